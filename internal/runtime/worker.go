package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
	"github.com/sluicehq/sluice/internal/shuffle"
)

// Peers is how a worker reads from other workers: shuffle buckets and
// cached blocks. In local mode it is a direct call into the other worker.
type Peers interface {
	// FetchShuffle returns bucket reduce of each of the map partitions
	// mapParts of a shuffle, all held by worker, in one call.
	FetchShuffle(ctx context.Context, worker string, dep *lineage.ShuffleDep, mapParts []int, reduce int) ([]any, error)
	// FetchBlock returns partition p of ds from worker's block store.
	FetchBlock(ctx context.Context, worker string, ds *lineage.Dataset, p int) (any, bool, error)
	// Replicate stores a copy of partition p of ds in worker's block store.
	Replicate(ctx context.Context, worker string, ds *lineage.Dataset, p int, part any) error
}

// Resolver finds datasets by ID and output operations by graph node: the
// worker's copy of the graph.
type Resolver interface {
	Lookup(id lineage.ID) (*lineage.Dataset, error)
	Output(node int32) (OutputFunc, error)
}

// Worker runs tasks and keeps blocks and shuffle outputs.
//
// Goroutines: one per running task, started by Launch and waited for by
// Close; the scheduler never gives a worker more tasks than its slots. One
// per receiver, started by StartReceiver, stopped by StopReceiver or Close
// and waited for by Close.
type Worker struct {
	Name    string
	Slots   int
	Blocks  *blockstore.Store
	Shuffle *shuffle.Store

	resolver Resolver
	peers    Peers
	report   func(TaskResult)
	log      *slog.Logger

	// blocks registers a received block with the driver.
	blocks   func(context.Context, BlockReport) error
	straggle Straggle

	mu        sync.Mutex
	running   map[scheduler.Task]context.CancelFunc
	receivers map[int32]*receiver
	closed    bool
	wg        sync.WaitGroup

	// Counters since the worker started (for metrics).
	tasksRun, tasksFailed, records atomic.Int64
}

// Counters returns the tasks run, the tasks that failed, and the records
// the tasks produced, since the worker started.
func (w *Worker) Counters() (run, failed, records int64) {
	return w.tasksRun.Load(), w.tasksFailed.Load(), w.records.Load()
}

// WorkerConfig configures a worker.
type WorkerConfig struct {
	Name  string
	Slots int
	// Blocks configures the block store (memory budget, spill directory).
	Blocks blockstore.Config
	// Logger receives operational warnings (a failed spill); nil: slog.Default().
	Logger *slog.Logger
	// AddBlock registers a block a receiver on this worker stored with
	// the driver (Driver.ReceivedBlock, through the transport).
	AddBlock func(context.Context, BlockReport) error
	// Straggle makes the worker a straggler (a testing aid).
	Straggle Straggle
}

// Straggle makes a worker a straggler, for tests and benchmarks of
// speculative execution (DESIGN.md section 6). It stretches each task's
// time instead of burning cycles: a task runs as usual, then its result is
// held back, so a slowed worker takes no CPU from the others when they
// share a machine's cores. A cancelled task ends at once.
type Straggle struct {
	// Slowdown > 1 holds each task's result back until the task has
	// taken Slowdown times as long as it ran.
	Slowdown float64
	// Stall holds every task's result back until the task is cancelled.
	Stall bool
}

// hold waits as Straggle says after a task ran for ran; false if the task
// was cancelled meanwhile.
func (s Straggle) hold(ctx context.Context, ran time.Duration) bool {
	switch {
	case s.Stall:
		<-ctx.Done()
		return false
	case s.Slowdown > 1:
		t := time.NewTimer(time.Duration(float64(ran) * (s.Slowdown - 1)))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// NewWorker returns a worker. report receives every task's result.
func NewWorker(cfg WorkerConfig, r Resolver, peers Peers, report func(TaskResult)) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{
		Name: cfg.Name, Slots: cfg.Slots, Blocks: blockstore.New(cfg.Blocks), Shuffle: shuffle.New(),
		resolver: r, peers: peers, report: report, log: cfg.Logger, blocks: cfg.AddBlock, straggle: cfg.Straggle,
		running: make(map[scheduler.Task]context.CancelFunc), receivers: make(map[int32]*receiver),
	}
}

// Launch starts a task attempt.
func (w *Worker) Launch(d *TaskDesc) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("runtime: worker %s is closed", w.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.running[d.Task] = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		res := w.run(ctx, d)
		if !w.straggle.hold(ctx, res.Duration) && res.Err == nil {
			res.Err = fmt.Errorf("runtime: task %v cancelled while held back (straggler): %w", d.Task, ctx.Err())
		}
		w.tasksRun.Add(1)
		w.records.Add(int64(res.Records))
		if res.Err != nil {
			w.tasksFailed.Add(1)
		}
		w.mu.Lock()
		delete(w.running, d.Task)
		w.mu.Unlock()
		cancel()
		w.report(res)
	}()
	return nil
}

// Cancel stops a running attempt (its context is cancelled).
func (w *Worker) Cancel(t scheduler.Task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.running[t]; c != nil {
		c()
	}
}

// Cutter is a Resolver that rebuilds the graph in another process than the
// driver's: it learns from each task where the lineage was truncated.
type Cutter interface {
	AddCuts(cuts []Cut)
}

// Forgetter is a Resolver that also forgets datasets nothing needs (a
// worker's own copy of the graph, in another process than the driver's).
type Forgetter interface {
	Forget(ids map[lineage.ID]bool)
}

// Free drops the blocks and shuffle outputs of the given datasets, and the
// datasets themselves when the resolver is a Forgetter.
func (w *Worker) Free(ds map[lineage.ID]bool) {
	w.Blocks.Remove(ds)
	w.Shuffle.Remove(ds)
	if f, ok := w.resolver.(Forgetter); ok {
		f.Forget(ds)
	}
}

// Close stops the receivers and cancels running tasks, waits for them and
// removes the block store's spill files.
func (w *Worker) Close() {
	w.mu.Lock()
	w.closed = true
	for _, c := range w.running {
		c()
	}
	for n, rc := range w.receivers {
		rc.cancel()
		delete(w.receivers, n)
	}
	w.mu.Unlock()
	w.wg.Wait()
	if err := w.Blocks.Close(); err != nil {
		w.log.Warn("runtime: cannot close the block store", "worker", w.Name, "err", err)
	}
}

func (w *Worker) run(ctx context.Context, d *TaskDesc) (res TaskResult) {
	start := time.Now()
	res = TaskResult{Task: d.Task, Worker: w.Name}
	tc := &taskCtx{ctx: ctx, w: w, desc: d}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				res.Err = fmt.Errorf("runtime: task %v panicked: %w", d.Task, e)
			} else {
				res.Err = fmt.Errorf("runtime: task %v panicked: %v", d.Task, r)
			}
		}
		res.Cached = tc.cached
		res.Replicated = tc.replicated
		res.Figures = tc.figures
		res.ShuffleReadBytes = tc.shuffleRead
		res.Duration = time.Since(start)
	}()
	if c, ok := w.resolver.(Cutter); ok && len(d.Cuts) > 0 {
		c.AddCuts(d.Cuts)
	}
	ds, err := w.resolver.Lookup(d.Dataset)
	if err != nil {
		res.Err = err
		return res
	}
	if d.Shuffle != nil {
		res.Records, res.ShuffleWriteBytes, res.Err = w.writeShuffle(tc, d, ds)
		return res
	}
	part, err := tc.Partition(ds, d.Task.Partition)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.Records = ds.Type.Len(part)
	res.Value, res.Err = w.act(tc, d, ds, part, &res)
	return res
}

// act carries out a result task's action on its partition.
func (w *Worker) act(tc *taskCtx, d *TaskDesc, ds *lineage.Dataset, part any, res *TaskResult) (any, error) {
	a := d.Action
	switch a.Kind {
	case ActCount:
		return int64(ds.Type.Len(part)), nil
	case ActCollect:
		res.ValueType = ds.Type
		return part, nil
	case ActTake:
		res.ValueType = ds.Type
		return ds.Type.Head(part, a.N), nil
	case ActOutput:
		f, err := w.resolver.Output(a.Node)
		if err != nil {
			return nil, err
		}
		if err := f(tc.ctx, d.BatchTime, d.Task.Partition, ds.NumParts, part); err != nil {
			return nil, err
		}
		return int64(ds.Type.Len(part)), nil
	case ActFunc:
		if a.Fn == nil { // the function stayed in the driver's process
			res.ValueType, res.Shipped = ds.Type, true
			return part, nil
		}
		return a.Fn(tc, d.Task.Partition, part)
	}
	return nil, fmt.Errorf("runtime: unknown action kind %d", a.Kind)
}

// writeShuffle computes a map partition and stores its buckets; it
// returns the number of records written and an estimate of their size.
func (w *Worker) writeShuffle(tc *taskCtx, d *TaskDesc, parent *lineage.Dataset) (int, int64, error) {
	child, err := w.resolver.Lookup(d.Shuffle.Child)
	if err != nil {
		return 0, 0, err
	}
	deps := child.Dependencies()
	if d.Shuffle.Index >= len(deps) {
		return 0, 0, fmt.Errorf("runtime: %v has no dependency %d", child, d.Shuffle.Index)
	}
	dep, ok := deps[d.Shuffle.Index].(*lineage.ShuffleDep)
	if !ok || dep.P.ID != parent.ID {
		return 0, 0, fmt.Errorf("runtime: dependency %d of %v is not a shuffle of %v", d.Shuffle.Index, child, parent)
	}
	// A worker rebuilding datasets may hold an older copy of the child (one
	// whose shuffle outputs the driver keeps) than of the parent: the same
	// dataset, but the child's own lineage is the one to compute.
	parent = dep.P
	p := d.Task.Partition
	var buckets []any
	if dep.Write != nil && !parent.Persisted() {
		buckets, err = dep.Write(tc, p)
	} else {
		var part any
		if part, err = tc.Partition(parent, p); err == nil {
			buckets = dep.Split(part, dep.Parts)
		}
	}
	if err == nil {
		err = tc.ctx.Err()
	}
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for _, b := range buckets {
		n += dep.Bucket.Len(b)
	}
	w.Shuffle.Put(dep.ID, p, buckets, dep.Bucket)
	return n, shuffleBytes(dep.Bucket, buckets, n), nil
}

// taskCtx implements lineage.TaskContext for one attempt.
type taskCtx struct {
	ctx        context.Context
	w          *Worker
	desc       *TaskDesc
	cached     []blockstore.ID
	replicated []BlockCopy
	// figures are those compute functions recorded (Record); shuffleRead
	// estimates the bytes of the buckets fetched.
	figures     []lineage.Figure
	shuffleRead int64
}

// Record implements lineage.Recorder: figures beyond MaxFigures, or with
// too long a key, are dropped.
func (tc *taskCtx) Record(f lineage.Figure) {
	if len(tc.figures) < MaxFigures && len(f.Key) <= MaxFigureKey {
		tc.figures = append(tc.figures, f)
	}
}

func (tc *taskCtx) Context() context.Context { return tc.ctx }
func (tc *taskCtx) BatchTime() int64         { return tc.desc.BatchTime }

func (tc *taskCtx) Partition(d *lineage.Dataset, p int) (any, error) {
	if err := tc.ctx.Err(); err != nil {
		return nil, err
	}
	if !d.Persisted() {
		return d.Compute(tc, p)
	}
	id := blockstore.ID{Dataset: d.ID, Part: p}
	if v, ok, err := tc.w.Blocks.Get(id); err != nil {
		// A spilled block that cannot be read is recomputed, as if lost.
		tc.w.log.Warn("runtime: cannot read a cached block", "worker", tc.w.Name, "block", id, "err", err)
	} else if ok {
		return v, nil
	}
	if v, ok := tc.remoteBlock(d, p); ok {
		return v, nil
	}
	v, err := d.Compute(tc, p)
	if err != nil {
		return nil, err
	}
	if err := tc.w.Blocks.Put(id, v, d.Type); err != nil {
		// The block is kept in memory; only spilling others failed.
		tc.w.log.Warn("runtime: block store over budget", "worker", tc.w.Name, "err", err)
	}
	tc.cached = append(tc.cached, id)
	tc.replicate(d, p, v)
	return v, nil
}

// replicate copies a block of a replicated dataset to other workers, the
// first ones of ReplicateTo that take it. A failed copy is logged, not
// fatal: the block exists here.
func (tc *taskCtx) replicate(d *lineage.Dataset, p int, v any) {
	want := d.Replicas - 1
	for _, peer := range tc.desc.ReplicateTo {
		if want <= 0 {
			return
		}
		if peer == tc.w.Name {
			continue
		}
		if err := tc.w.peers.Replicate(tc.ctx, peer, d, p, v); err != nil {
			tc.w.log.Warn("runtime: cannot replicate a block", "worker", tc.w.Name, "to", peer, "dataset", d.String(), "part", p, "err", err)
			continue
		}
		tc.replicated = append(tc.replicated, BlockCopy{blockstore.ID{Dataset: d.ID, Part: p}, peer})
		want--
	}
}

func (tc *taskCtx) remoteBlock(d *lineage.Dataset, p int) (any, bool) {
	for _, peer := range tc.desc.BlockLocs[blockstore.ID{Dataset: d.ID, Part: p}] {
		if peer == tc.w.Name {
			continue
		}
		if v, ok, err := tc.w.peers.FetchBlock(tc.ctx, peer, d, p); err == nil && ok {
			return v, true
		}
	}
	return nil, false
}

// ReadCached is the compute function of a truncated dataset: its
// partitions exist only as cached blocks.
func ReadCached(d *lineage.Dataset) lineage.ComputeFunc {
	return func(tc lineage.TaskContext, p int) (any, error) {
		return nil, fmt.Errorf("%w: partition %d of %v (truncated lineage)", ErrBlockLost, p, d)
	}
}

// Fetch reads reduce partition r of a shuffle: local buckets directly, and
// one batched call per other worker for the buckets it holds.
func (tc *taskCtx) Fetch(dep *lineage.ShuffleDep, r int) ([]any, error) {
	locs, ok := tc.desc.ShuffleLocs[dep.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %v in task %v", ErrUnplannedShuffle, dep.ID, tc.desc.Task)
	}
	if len(locs) != dep.P.NumParts {
		return nil, fmt.Errorf("runtime: task %v has no locations for %v", tc.desc.Task, dep.ID)
	}
	out := make([]any, len(locs))
	remote := make(map[string][]int)
	var peers []string
	for m, peer := range locs {
		switch peer {
		case tc.w.Name:
			b, err := tc.w.Shuffle.Get(dep.ID, m, r)
			if err != nil {
				return nil, &FetchError{Shuffle: dep.ID, MapPart: m, Worker: peer, Err: err}
			}
			out[m] = b
		case "":
			return nil, &FetchError{Shuffle: dep.ID, MapPart: m, Err: errors.New("no location")}
		default:
			if remote[peer] == nil {
				peers = append(peers, peer)
			}
			remote[peer] = append(remote[peer], m)
		}
	}
	for _, peer := range peers { // in first-location order: deterministic
		if err := tc.ctx.Err(); err != nil {
			return nil, err
		}
		maps := remote[peer]
		bs, err := tc.w.peers.FetchShuffle(tc.ctx, peer, dep, maps, r)
		if err == nil && len(bs) != len(maps) {
			err = fmt.Errorf("got %d buckets for %d map partitions", len(bs), len(maps))
		}
		if err != nil {
			m := maps[0]
			var mo *MissingOutput
			if errors.As(err, &mo) {
				m = mo.MapPart
			}
			return nil, &FetchError{Shuffle: dep.ID, MapPart: m, Worker: peer, Err: err}
		}
		for i, m := range maps {
			out[m] = bs[i]
		}
	}
	n := 0
	for _, b := range out {
		n += dep.Bucket.Len(b)
	}
	tc.shuffleRead += shuffleBytes(dep.Bucket, out, n)
	return out, nil
}

// Running returns the number of tasks running.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// CopyBlocks copies blocks this worker holds to other workers (a drain
// moves what only a leaving worker holds, see Driver.DrainWorker) and
// returns the copies made. A block it cannot read or send is left out
// (logged): whatever needs it recomputes it.
func (w *Worker) CopyBlocks(ctx context.Context, copies []BlockCopy) []BlockCopy {
	done := make([]BlockCopy, 0, len(copies))
	for _, c := range copies {
		if ctx.Err() != nil {
			break
		}
		v, ok, err := w.Blocks.Get(c.ID)
		if err != nil || !ok {
			w.log.Warn("runtime: draining: cannot read a block to copy", "worker", w.Name, "block", c.ID, "err", err)
			continue
		}
		ds, err := w.resolver.Lookup(c.ID.Dataset)
		if err == nil {
			err = w.peers.Replicate(ctx, c.Worker, ds, c.ID.Part, v)
		}
		if err != nil {
			w.log.Warn("runtime: draining: cannot copy a block", "worker", w.Name, "block", c.ID, "to", c.Worker, "err", err)
			continue
		}
		done = append(done, c)
	}
	return done
}
