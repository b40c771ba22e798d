package sluice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/ui"
)

// node is one stream of the graph, untyped.
type node struct {
	c       *Context
	id      int32
	kind    string
	name    string // user-given name (required on stateful operators)
	typ     string // record type, for fingerprints and messages
	parents []*node
	slide   time.Duration
	// lookback is how far back, beyond the current time, compute reads
	// its parents' batches (windows), and selfLookback its own (state).
	lookback     time.Duration
	selfLookback time.Duration
	persist      bool
	// truncateEvery, when > 0, cuts the lineage of this node's datasets
	// every that many batches once computed (state and incremental
	// windows).
	truncateEvery int
	compute       func(t time.Time) (*lineage.Dataset, error)
	// plan, for inputs, fixes batch t's input (driver side) and returns
	// its record count (-1 if unknown until read).
	plan func(t time.Time) (int64, error)
	// output, for output operations, runs the operation on batch t.
	output func(ctx context.Context, d *lineage.Dataset, t time.Time) error
	// partition, for output operations that run on the workers, is their
	// work on one partition (found by the node's ID in a task descriptor).
	partition runtime.OutputFunc

	// counted, for outputs run on the workers, is told how many records
	// each batch's run wrote.
	counted func(t time.Time, records int64)

	// view, for stateful operators, reads the state for people (the UI,
	// ReadState).
	view *stateView

	// rtype is the record type of the node's datasets.
	rtype lineage.Type

	remember time.Duration
	mu       sync.Mutex
	gen      map[int64]*lineage.Dataset
	// plans, for inputs on a cluster's driver (or one that checkpoints),
	// holds each batch's encoded plan, which workers fetch to rebuild the
	// input's datasets and metadata checkpoints record.
	plans map[int64][]byte
	// restorePlan, for inputs, takes back a plan a metadata checkpoint
	// recorded; cursor and restoreCursor, if set, save and restore where
	// the input resumes reading.
	restorePlan   func(t int64, b []byte) error
	cursor        func() []byte
	restoreCursor func([]byte) error
	// replay marks inputs that can plan a batch again (see newInput's
	// replan): a batch older than the checkpoint's plans is planned again.
	replay bool
	// lastCut is the latest batch whose dataset's lineage was cut
	// (stateful nodes); startAt, if set, is the first batch of a node new
	// in a job resumed from a checkpoint.
	lastCut int64
	startAt time.Time
	// cuts are n's truncated datasets a recomputation may still reach,
	// by batch time: every task descriptor lists them.
	cuts map[int64]runtime.Cut
	// recv and receive, for push receivers: the input tracker (driver)
	// and the receiver itself (run on a worker).
	recv    *recvInput
	receive runtime.ReceiveFunc
	// rate, for inputs that backpressure or MaxRate limit, is the
	// input's rate control (driver side; nil: never limited).
	rate *inputRate
}

// setCut records that n's dataset d at t had its lineage cut.
func (n *node) setCut(t int64, d *lineage.Dataset) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lastCut = max(n.lastCut, t)
	if n.cuts == nil {
		n.cuts = make(map[int64]runtime.Cut)
	}
	n.cuts[t] = runtime.Cut{ID: d.ID, NumParts: d.NumParts, Partitioning: d.Partitioning}
}

// pruneCuts forgets n's cuts before t, but the newest.
func (n *node) pruneCuts(t int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ct := range n.cuts {
		if ct < t && ct != n.lastCut {
			delete(n.cuts, ct)
		}
	}
}

// allCuts lists the cuts of every stateful node that a worker rebuilding
// a node may reach (runtime.Config.ExtraCuts).
func (c *Context) allCuts() []runtime.Cut {
	var out []runtime.Cut
	for _, n := range c.statefulNodes() {
		n.mu.Lock()
		for _, cut := range n.cuts {
			out = append(out, cut)
		}
		n.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out
}

// cutAt returns the latest batch whose dataset's lineage was cut.
func (n *node) cutAt() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastCut
}

// Stream is a discretized stream: a sequence of datasets, one per batch
// interval (or per slide, for windowed streams). Streams are built with
// the functions of this package and run when the Context starts.
type Stream[T any] struct {
	n *node
}

// Context returns the stream's context.
func (s *Stream[T]) Context() *Context { return s.n.c }

// Slide returns the interval between the stream's datasets.
func (s *Stream[T]) Slide() time.Duration { return s.n.slide }

// String names the stream's operation, its position in the graph and its
// record type, e.g. "Map#3(int)".
func (s *Stream[T]) String() string { return fmt.Sprintf("%s#%d(%s)", s.n.kind, s.n.id, s.n.typ) }

// addNode adds a node to the graph, unless the graph already started.
func (c *Context) addNode(n *node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Set up even when refused, so that operations built on a refused
	// stream report ErrGraphStarted too instead of finding no context or
	// a zero slide.
	n.c = c
	n.gen = make(map[int64]*lineage.Dataset)
	if n.slide == 0 {
		n.slide = c.cfg.batch
	}
	if c.state != created {
		if c.err == nil {
			c.err = fmt.Errorf("sluice: %s: %w", n.kind, ErrGraphStarted)
		}
		return false
	}
	n.id = int32(len(c.nodes) + 1) // 0 is the static scope
	c.nodes = append(c.nodes, n)
	if n.plan != nil {
		c.inputs = append(c.inputs, n)
	}
	if n.output != nil {
		c.outputs = append(c.outputs, n)
	}
	return true
}

// zero is the time before the first batch; batch times are zero + k·B.
func (c *Context) zero() time.Time { return c.first.Add(-c.cfg.batch) }

// valid reports whether n has a dataset at t.
func (n *node) valid(t time.Time) bool {
	d := t.Sub(n.c.zero())
	return d > 0 && d%n.slide == 0 && !t.Before(n.startAt)
}

// at returns n's dataset at t, computing it once; ok is false when n has
// no dataset at t (t is not on its slide, or before the first batch).
func (n *node) at(t time.Time) (*lineage.Dataset, bool, error) {
	if !n.valid(t) {
		return nil, false, nil
	}
	n.mu.Lock()
	d := n.gen[t.UnixNano()]
	n.mu.Unlock()
	if d != nil {
		return d, true, nil
	}
	if wk := n.c.wk; wk != nil { // a worker, under wk.mu (see resolver.Lookup)
		if cut, ok := wk.cut(n.id, t.UnixNano()); ok {
			d = n.stub(t, cut)
			n.mu.Lock()
			n.gen[t.UnixNano()] = d
			n.mu.Unlock()
			return d, true, nil
		}
	}
	d, err := n.safeCompute(t)
	if err != nil {
		return nil, false, err
	}
	if n.persist {
		d.Persist()
		if n.checkpointBatch(t) && n.c.ck == nil {
			// Its lineage will be cut with no checkpoint store to read
			// it from: a second copy on another worker keeps it when one
			// worker is lost.
			d.Replicas = 2
		}
	}
	n.mu.Lock()
	if prev := n.gen[t.UnixNano()]; prev != nil {
		d = prev
	} else {
		n.gen[t.UnixNano()] = d
	}
	n.mu.Unlock()
	return d, true, nil
}

// checkpointBatch reports whether n's dataset at t is one whose lineage
// Completed cuts (state, every truncateEvery batches).
func (n *node) checkpointBatch(t time.Time) bool {
	if n.truncateEvery <= 0 {
		return false
	}
	k := t.Sub(n.c.zero()) / n.slide
	return int(k)%n.truncateEvery == 0
}

// safeCompute runs compute, turning a panic in user code (a Transform
// function, a misuse of the dataset API) into an error.
func (n *node) safeCompute(t time.Time) (d *lineage.Dataset, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sluice: %s#%d at %v panicked: %v", n.kind, n.id, t.UnixMilli(), r)
		}
	}()
	return n.compute(t)
}

// slice returns n's datasets at its valid times in [from, to].
func (n *node) slice(from, to time.Time) ([]*lineage.Dataset, error) {
	var out []*lineage.Dataset
	for t := from; !t.After(to); t = t.Add(n.c.cfg.batch) {
		d, ok, err := n.at(t)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// scope is where n names the datasets it makes at t.
func (n *node) scope(t time.Time) *lineage.Scope { return n.c.reg.Scope(n.id, t.UnixNano()) }

// view wraps one of n's datasets for typed code running in scope sc.
func view[T any](n *node, d *lineage.Dataset, sc *lineage.Scope) dataset.Dataset[T] {
	return dataset.Wrap[T](d, n.c.env).InScope(sc)
}

// Start validates the graph and starts generating batches. The first batch
// is at the next multiple of the batch interval.
//
// In a worker process of a cluster (started by local-cluster), Start
// serves the driver's tasks instead, until the driver stops, and then
// exits the process: the code after Start runs on the driver only.
func (c *Context) Start() error {
	if c.wk != nil {
		return c.serveAsWorker()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.state != created {
		return errors.New("sluice: context already started")
	}
	if len(c.outputs) == 0 {
		return errors.New("sluice: no output operations: add Print, ForeachBatch, ForeachPartition or SaveAsTextFiles")
	}
	c.computeRemember()
	var from time.Time // the first batch to run
	if c.ck != nil {
		if err := c.resume(context.Background()); err != nil {
			return err
		}
		if err := c.recoverWAL(context.Background()); err != nil {
			return err
		}
		from = c.ck.resumeFrom
	}
	if c.cl != nil {
		if err := c.startCluster(); err != nil {
			return err
		}
	}
	if from.IsZero() {
		c.first = c.cfg.clock.Now().Truncate(c.cfg.batch).Add(c.cfg.batch)
		from = c.first
	}
	if c.cl != nil {
		c.cl.drv.SetFirst(c.first.UnixNano())
	}
	for _, f := range c.onStart {
		f()
	}
	if len(c.receivers) > 0 {
		if err := c.startRates(); err != nil {
			return err
		}
		ids := make([]int32, len(c.receivers))
		for i, n := range c.receivers {
			ids[i] = n.id
		}
		if err := c.env.driver.StartReceivers(ids); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.state = started
	if err := c.startObserver(); err != nil {
		return err
	}
	c.uiEvent(ui.EventDriver, from, "driver started: master %s, batch interval %v", c.cfg.master, c.cfg.batch)
	if c.ck != nil && c.ck.report != nil {
		c.uiEvent(ui.EventDriver, from, "%s", c.ck.report.String())
	}
	cfg := runtime.StreamConfig{Interval: c.cfg.batch, First: from, Clock: c.cfg.clock, OnBatch: func(b BatchInfo) {
		c.updateRates(b)
		c.observeBatch(b)
		for _, f := range c.afterBatch {
			f(b)
		}
		if c.cfg.onBatch != nil {
			c.cfg.onBatch(b)
		}
	}}
	go func() {
		err := runtime.RunStream(ctx, cfg, (*generator)(c))
		c.mu.Lock()
		c.runErr = err
		c.mu.Unlock()
		close(c.done)
	}()
	return nil
}

// FirstBatch returns the time of the job's first batch (zero before
// Start): batch k runs at FirstBatch() + k·BatchInterval(). A job resumed
// from a checkpoint keeps the first batch of the run that wrote it.
func (c *Context) FirstBatch() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// computeRemember sets how long each node keeps its datasets: long enough
// for every window and state that reads them.
func (c *Context) computeRemember() {
	for i := len(c.nodes) - 1; i >= 0; i-- { // children come after parents
		n := c.nodes[i]
		n.remember = max(n.remember, n.slide, n.selfLookback+n.slide)
		for _, p := range n.parents {
			p.remember = max(p.remember, n.remember+n.lookback)
		}
	}
}

// Stop stops generating batches, lets the batch in flight finish, and
// releases the engine. It returns the error that stopped the job, if any.
func (c *Context) Stop() error {
	c.mu.Lock()
	st := c.state
	c.state = stopped
	c.mu.Unlock()
	if st == started {
		c.drainReceivers()
		c.cancel()
		<-c.done
		c.rec.stop()
		if c.ck != nil {
			c.mu.Lock()
			failed := c.runErr != nil || c.crashed
			c.mu.Unlock()
			if failed {
				c.ck.wg.Wait()
			} else if err := c.finalCheckpoint(context.Background()); err != nil {
				c.mu.Lock()
				c.runErr = err
				c.mu.Unlock()
			}
		}
	}
	if st != stopped {
		c.env.close()
		for _, f := range c.onStop {
			f()
		}
		if c.ck != nil {
			c.ck.store.Close()
		}
	}
	c.mu.Lock()
	obs := c.obs
	c.mu.Unlock()
	if obs != nil {
		obs.srv.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runErr
}

// AwaitTermination blocks until the job stops (by Stop or an error) or
// ctx is done, and returns the job's error.
func (c *Context) AwaitTermination(ctx context.Context) error {
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runErr
}

// generator adapts the graph to runtime.Generator.
type generator Context

func (g *generator) Generate(t time.Time) (*runtime.Batch, error) {
	b, err := g.generate(t)
	if err != nil {
		// A batch that cannot be generated (a graph changed after Start,
		// an input that failed) fails like a batch whose job failed: it
		// is reported through OnBatch, which the harness and monitoring
		// wait for, and stops the job with err.
		fail := func(context.Context) error { return err }
		return &runtime.Batch{Time: t, Jobs: []func(context.Context) error{fail}}, nil
	}
	return b, nil
}

func (g *generator) generate(t time.Time) (*runtime.Batch, error) {
	c := (*Context)(g)
	if err := c.Err(); err != nil {
		return nil, err
	}
	b := &runtime.Batch{Time: t}
	if err := c.planInputs(t, b); err != nil {
		return nil, err
	}
	if c.ck != nil {
		c.recordPlans(context.Background(), t)
	}
	for _, out := range c.outputs {
		d, ok, err := out.parents[0].at(t)
		if err != nil {
			return nil, fmt.Errorf("sluice: %s#%d at %v: %w", out.kind, out.id, t, err)
		}
		if !ok {
			continue
		}
		out := out
		b.Jobs = append(b.Jobs, func(ctx context.Context) error {
			c.enterJob(ctx, out, t)
			defer c.leaveJob()
			if err := out.output(ctx, d, t); err != nil {
				return fmt.Errorf("sluice: %s#%d at %v: %w", out.kind, out.id, t, err)
			}
			return nil
		})
	}
	return b, nil
}

// Completed forgets what no later batch needs: datasets older than each
// node's remember duration, with their blocks and shuffle outputs, and the
// inputs' plans no recomputation of state can need. It cuts the lineage of
// state at checkpoint batches: with a checkpoint store, once the state is
// written (in the background); without one, once it is cached (twice). With
// a store it then writes the batch's metadata checkpoint.
func (g *generator) Completed(t time.Time) {
	c := (*Context)(g)
	// State recomputed after a worker loss reads datasets freed below.
	c.enterJob(context.Background(), nil, t)
	var ids []lineage.ID
	var cut []*lineage.Dataset // checkpoint batches' state, to cut if cached
	planKeep := c.planHorizon(t)
	for _, n := range c.nodes {
		before := t.Add(-n.remember).UnixNano() + 1
		var keep int64
		if c.ck == nil && n.truncateEvery > 0 {
			// Without a store, the blocks of the state's latest cut are its
			// only copies: later state is recomputed from them.
			keep = n.cutAt()
		}
		if n.truncateEvery > 0 {
			n.pruneCuts(planKeep) // older cuts: no plan left to rebuild above them
		}
		n.mu.Lock()
		for bt := range n.plans {
			if bt < min(before, planKeep) {
				delete(n.plans, bt)
			}
		}
		for bt, d := range n.gen {
			if bt < before && bt != keep {
				delete(n.gen, bt)
			} else if c.ck == nil && bt <= t.UnixNano() && !d.Truncated() && n.checkpointBatch(time.Unix(0, bt)) {
				cut = append(cut, d)
			}
		}
		n.mu.Unlock()
		ids = append(ids, c.reg.ForgetKeeping(n.id, before, keep)...)
	}
	// Asking the driver is a round trip: not under a node's lock.
	for _, d := range cut {
		if c.env.driver.FullyCached(d) {
			d.Truncate(runtime.ReadCached(d))
			c.nodeByID(d.ID.Node).setCut(d.ID.Time, d)
		}
	}
	var wal []string
	for _, n := range c.receivers {
		blocks := n.recv.drop(min(t.Add(-n.remember).UnixNano()+1, planKeep))
		ids = append(ids, blocks...)
		if c.ck != nil && c.cfg.wal {
			for _, id := range blocks {
				wal = append(wal, c.walKey(n, id))
			}
		}
	}
	ids = c.holdLineage(t, ids)
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	_ = c.env.driver.Free(ids)
	c.lastDone.Store(t.UnixNano())
	if len(wal) > 0 {
		c.ck.wg.Add(1)
		go func() { // owned by the checkpoint writers' group
			defer c.ck.wg.Done()
			if err := c.ck.store.Delete(context.Background(), wal...); err != nil {
				c.cfg.logger.Warn("sluice: cannot delete write-ahead log blocks", "err", err)
			}
		}()
	}
	if c.ck != nil {
		c.checkpointBatch(t)
	}
}

// holdLineage keeps out of the datasets to free, ids, the children of the
// shuffles that the state of a stateful operator was computed from since
// its last cut, until a later cut makes them useless; it returns the IDs to
// free: the rest of ids, and those it held that no state needs any more.
// Were a worker lost, its state partitions are recomputed from the cut
// through these batches: with their map outputs kept, only those the lost
// worker held are computed again, not every input partition of every
// batch. Memory holds, per stateful operator, the map outputs of the
// batches of one checkpoint interval at most (workers keep them encoded,
// see shuffle.Store.SetCompact). Only cluster modes hold them: in one
// process no worker is lost.
func (c *Context) holdLineage(t time.Time, ids []lineage.ID) []lineage.ID {
	if c.cl == nil {
		return ids
	}
	need := make(map[lineage.ID]bool)
	seen := make(map[*lineage.Dataset]bool)
	for _, n := range c.statefulNodes() {
		if d := n.latest(t); d != nil {
			shufflesSinceCut(d, need, seen)
		}
	}
	var free []lineage.ID
	for id := range c.held {
		if !need[id] {
			free = append(free, id)
			delete(c.held, id)
		}
	}
	for _, id := range ids {
		if !need[id] {
			free = append(free, id)
			continue
		}
		if c.held == nil {
			c.held = make(map[lineage.ID]bool)
		}
		c.held[id] = true
	}
	return free
}

// shufflesSinceCut adds to need the children of the shuffles in d's
// lineage, up to its truncated datasets.
func shufflesSinceCut(d *lineage.Dataset, need map[lineage.ID]bool, seen map[*lineage.Dataset]bool) {
	if seen[d] {
		return
	}
	seen[d] = true
	for _, dep := range d.Dependencies() { // none past a cut
		if sd, ok := dep.(*lineage.ShuffleDep); ok {
			need[sd.ID.Child] = true
		}
		shufflesSinceCut(dep.Parent(), need, seen)
	}
}

// planHorizon is the oldest batch whose input plans a recomputation may
// still need: state is recomputed from its latest cut, through windows
// that look back as far as any node remembers.
func (c *Context) planHorizon(t time.Time) int64 {
	keep := t.UnixNano()
	var reach time.Duration
	for _, n := range c.nodes {
		reach = max(reach, n.remember)
		if n.truncateEvery > 0 {
			keep = min(keep, max(n.cutAt(), c.first.UnixNano()))
		}
	}
	return keep - int64(reach)
}

// checkpointBatch starts the state checkpoints due at batch t and writes
// its metadata checkpoint.
func (c *Context) checkpointBatch(t time.Time) {
	for _, n := range c.statefulNodes() {
		if !n.valid(t) || !n.checkpointBatch(t) {
			continue
		}
		n.mu.Lock()
		d := n.gen[t.UnixNano()]
		n.mu.Unlock()
		if d != nil && !d.Truncated() {
			c.startStateCheckpoint(n, d, t.UnixNano())
		}
	}
	if err := c.writeMetadata(context.Background(), t); err != nil {
		// The job goes on; a restart resumes from an older checkpoint
		// and repeats more batches (exactly-once sinks absorb them).
		c.cfg.logger.Warn("sluice: metadata checkpoint failed", "batch", t.UnixMilli(), "err", err)
	}
}

// planInputs fixes batch t's input, under genMu: a metadata checkpoint
// snapshots the inputs' plans and cursors between batches.
func (c *Context) planInputs(t time.Time, b *runtime.Batch) error {
	c.genMu.Lock()
	defer c.genMu.Unlock()
	for _, in := range c.inputs {
		n, err := in.plan(t)
		if err != nil {
			return fmt.Errorf("sluice: input %s#%d at %v: %w", in.kind, in.id, t, err)
		}
		b.Records += max(n, 0)
	}
	return nil
}
