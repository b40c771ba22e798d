package sluice

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/ui"
)

// Recovery of state after a worker is lost (cluster modes). The lost
// worker held some partitions of every stateful operator's state. Left
// alone, each would be recomputed (from the last checkpoint, through the
// batches since) by the next job that reads it: one output job after
// another, often in the next batch, each leaving most workers idle while
// its lost partitions' lineage is replayed. Instead, as soon as the driver
// learns of the loss, the latest completed state of every stateful
// operator is recomputed at once, all operators in parallel, using the
// idle time before the next batch: the state of the batch being processed
// (or of the last one, between batches). Batch jobs that start meanwhile
// wait for these recomputations (they would repeat them), and so does the
// cleanup after a batch (it would free datasets of their lineage, the
// batches since the last checkpoint, under them). An output job already
// running when the worker is lost recomputes the state it reads itself if
// it still needs the lost partitions (its job gets a new plan): that state
// is left to it, and recomputed when it ends if it is still not whole.

// recovery tracks the state recomputations started after worker losses.
// Its zero value is ready; start arms it for a run.
type recovery struct {
	mu      sync.Mutex
	ctx     context.Context // cancelled by stop
	cancel  context.CancelFunc
	running int           // recomputations running
	done    chan struct{} // closed when running drops to zero
	// output is the output operation whose job is running (nil between
	// jobs); batch is the batch being processed, or the last one.
	output *node
	batch  time.Time
	// deferred are the stateful nodes the running job reads that lost
	// partitions while it ran, with the worker lost.
	deferred map[*node]string
	wg       sync.WaitGroup
}

// begin arms the recovery; stop cancels its recomputations and waits for
// them.
func (r *recovery) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx, r.cancel = context.WithCancel(context.Background())
}

func (r *recovery) stop() {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// enterJob waits until no recomputation runs (or ctx is done), then
// records that out's job of batch t runs (out may be nil: the cleanup
// after batch t); leaveJob records that it ended, and recomputes what the
// job's state lost while it ran and it did not recompute itself.
func (c *Context) enterJob(ctx context.Context, out *node, t time.Time) {
	r := &c.rec
	for {
		r.mu.Lock()
		if r.running == 0 || ctx.Err() != nil {
			r.output = out
			r.batch = t
			r.mu.Unlock()
			return
		}
		ch := r.done
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

func (c *Context) leaveJob() {
	r := &c.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.output = nil
	for n, worker := range r.deferred {
		c.startRecompute(worker, n)
	}
	r.deferred = nil
}

// workerLost starts recomputing the state of every stateful operator but
// those the running output job reads (called by the cluster driver after
// the runtime learned of the loss).
func (c *Context) workerLost(worker string) {
	r := &c.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil || r.ctx.Err() != nil || r.batch.IsZero() {
		return
	}
	reads := stateRead(r.output)
	for _, n := range c.statefulNodes() {
		if reads[n] {
			if r.deferred == nil {
				r.deferred = make(map[*node]string)
			}
			r.deferred[n] = worker
			continue
		}
		c.startRecompute(worker, n)
	}
}

// startRecompute starts recomputing what n's dataset of the batch being
// processed (or the last) lost, under r.mu.
func (c *Context) startRecompute(worker string, n *node) {
	r := &c.rec
	d := n.latest(r.batch)
	if d == nil || r.ctx.Err() != nil {
		return
	}
	if r.running == 0 {
		r.done = make(chan struct{})
	}
	r.running++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.end()
		c.recompute(r.ctx, worker, n, d)
	}()
}

func (r *recovery) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running--; r.running == 0 {
		close(r.done)
	}
}

// recompute computes the partitions of n's dataset d that are not cached
// any more (reading the others is cheap), caching them where they run.
func (c *Context) recompute(ctx context.Context, worker string, n *node, d *lineage.Dataset) {
	if c.env.driver.FullyCached(d) {
		return
	}
	start := time.Now()
	if _, err := c.env.RunJob(ctx, d, runtime.Action{Kind: runtime.ActCount}); err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		// The next job that reads the state recomputes it.
		c.cfg.logger.Warn("sluice: recomputing state after a worker was lost", "op", n.kind, "name", n.name, "worker", worker, "err", err)
		c.uiEvent(ui.EventRecovery, time.Unix(0, d.ID.Time), "recomputing the state of %q lost with %s failed: %v", n.name, worker, err)
		return
	}
	c.uiEvent(ui.EventRecovery, time.Unix(0, d.ID.Time), "state of %q lost with %s recomputed in parallel in %v", n.name, worker, time.Since(start).Round(time.Millisecond))
	c.cfg.logger.Info("sluice: recomputed state after a worker was lost", "op", n.kind, "name", n.name, "worker", worker,
		"batch", d.ID.Time/1e6, "took_ms", ms(time.Since(start)))
}

// stateRead returns the stateful nodes out's datasets derive from.
func stateRead(out *node) map[*node]bool {
	seen := make(map[*node]bool)
	var walk func(n *node)
	walk = func(n *node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		for _, p := range n.parents {
			walk(p)
		}
	}
	walk(out)
	for n := range seen {
		if n.truncateEvery <= 0 {
			delete(seen, n)
		}
	}
	return seen
}

// latest returns n's generated dataset of the latest batch not after t,
// or nil.
func (n *node) latest(t time.Time) *lineage.Dataset {
	n.mu.Lock()
	defer n.mu.Unlock()
	var d *lineage.Dataset
	best := int64(-1)
	for bt, ds := range n.gen {
		if bt <= t.UnixNano() && bt > best {
			best, d = bt, ds
		}
	}
	return d
}
