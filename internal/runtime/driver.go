package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Transport carries the driver's commands to workers. Local mode calls the
// workers directly; the cluster runtime sends them over the network.
type Transport interface {
	Launch(worker string, d *TaskDesc) error
	Cancel(worker string, t scheduler.Task)
	Free(worker string, ds map[lineage.ID]bool)
}

// Config holds the driver's tunables.
type Config struct {
	Scheduler scheduler.Config
	// EventQueue bounds the driver's event queue (default 4096); senders
	// block when it is full.
	EventQueue int
	// Cuts makes task descriptors list the truncated datasets of their
	// lineage (workers in other processes need them).
	Cuts bool
	// ExtraCuts, if set, lists truncated datasets every task descriptor
	// carries besides those of its lineage: a worker that rebuilds a graph
	// node rebuilds all of it, beyond the lineage of the one dataset the
	// task computes (e.g. a state it does not read), and must stop at
	// those cuts too.
	ExtraCuts func() []Cut
	// Pinned, if set, says which datasets only the driver's process can
	// build (made at run time by code that runs only there); stages that
	// compute one run on the reserved workers (see AddReservedWorker).
	Pinned func(*lineage.Dataset) bool
	// OnBlock, if set, receives every block a receiver registered (the
	// input tracker), and the input errors receivers report. It runs on
	// the driver's event loop: it must not block or call the driver.
	OnBlock func(BlockReport)
	// TickInterval is how often the scheduler learns the time (default
	// 50ms): it times task attempts by it, to launch speculative copies of
	// stragglers, and ends worker exclusions.
	TickInterval time.Duration
	// DrainWait bounds how long a drain waits for the jobs that were
	// active when it began and for the receivers it moves (default 30s;
	// see DrainWorker). Running attempts are always waited for.
	DrainWait time.Duration
	// Observer, if set, learns of jobs, task attempts and events (the
	// web UI); it runs on the event loop.
	Observer Observer
}

// DefaultTickInterval is Config.TickInterval's default.
const DefaultTickInterval = 50 * time.Millisecond

// ErrWorkerGone is returned (wrapped) by a Transport's Launch for a
// worker that is no longer connected: the driver then treats the worker
// as lost at once, instead of counting a task failure against the job.
var ErrWorkerGone = errors.New("runtime: worker gone")

// ErrStopped is returned by RunJob once the driver is closed.
var ErrStopped = errors.New("runtime: driver stopped")

// Driver runs jobs: it splits lineage into stages, feeds the scheduler's
// state machine and carries out its actions through a Transport.
//
// Goroutines: one event loop, started by NewDriver and stopped by Close.
// It alone owns the scheduler and the registries below; everything else
// talks to it through its bounded event queue.
type Driver struct {
	cfg       Config
	transport Transport
	events    chan any
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	jobSeq    atomic.Int64

	// Owned by the loop goroutine.
	sched     *scheduler.Scheduler
	jobs      map[scheduler.JobID]*job
	stages    map[scheduler.StageID]*stage
	byShuffle map[lineage.ShuffleID]scheduler.StageID
	mapOut    map[lineage.ShuffleID][]string
	blocks    map[blockstore.ID][]string
	running   map[scheduler.Task]string
	// launchedAt is when each running attempt was launched (Observer).
	launchedAt map[scheduler.Task]time.Time
	// exclusions and excluded are the exclusions last reported to the
	// Observer (observeExclusions).
	exclusions int
	excluded   map[string]bool
	workers    map[string]int
	reserved   map[string]bool // workers that run pinned stages only
	nextStage  scheduler.StageID
	stats      Stats
	// recv says where each push receiver runs (receive.go).
	recv         map[int32]*recvState
	recvSeq      int32
	recvStopping bool
	// recvRate is the rate each receiver is held to (records/s; absent
	// or 0: no limit), set by SetReceiverRate (backpressure).
	recvRate map[int32]float64
	// draining holds the drains in progress (drain.go).
	draining map[string]*drainState

	// bg counts the goroutines the loop starts (a drain's block copies);
	// bgCtx is cancelled by Close, which waits for them.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// Stats counts the driver's work since it started.
type Stats struct {
	Jobs, TasksLaunched, TasksFailed, StaleResults int64
	Workers                                        int
	CachedBlocks                                   int
	Shuffles                                       int
	// Speculation counts speculative copies and worker exclusions
	// (scheduler.Counters); Excluded lists the workers excluded now.
	Speculation scheduler.Counters
	Excluded    []string
	// Running lists the task attempts running, by worker.
	Running []RunningTask
	// Receivers says on which worker each input node's receiver runs.
	Receivers map[int32]string
	// WorkerNames lists the live workers that run ordinary tasks, by
	// name; Draining those of them that drain (DrainWorker).
	WorkerNames, Draining []string
	// Drains counts the drains begun, Drained the workers drained and
	// removed, BlocksMoved the blocks their drains copied elsewhere.
	Drains, Drained, BlocksMoved int64
}

// RunningTask is a task attempt and where it runs.
type RunningTask struct {
	Task   scheduler.Task
	Worker string
}

type job struct {
	id      scheduler.JobID
	batch   int64
	action  Action
	final   *lineage.Dataset
	results []any
	// shipped marks results that are partitions for the action's Fn.
	shipped []bool
	reply   chan jobResult
	started time.Time
	// resultStage is forgotten when the job ends.
	resultStage scheduler.StageID
	// replan says the job ended to be planned again (see Driver.replan);
	// replans counts its new plans.
	replan  bool
	replans int
}

type jobResult struct {
	values []any
	err    error
}

// stage is the runtime's side of a scheduler stage.
type stage struct {
	id      scheduler.StageID
	ds      *lineage.Dataset    // dataset whose partitions the tasks compute
	shuffle *lineage.ShuffleDep // set for map stages
	child   *lineage.Dataset    // a map stage's shuffle child (the dataset that reads it)
	job     *job                // set for result stages
	reads   []*lineage.ShuffleDep
	cached  []*lineage.Dataset // persisted datasets in the pipeline
	// parents are a map stage's parent stages, fixed when first built.
	parents []scheduler.StageID
	built   bool
	// cuts caches the truncated datasets of ds's lineage; a submit
	// clears it, since state may have been truncated since.
	cuts     []Cut
	cutsDone bool
	pinned   bool // computes a dataset only the driver can build
	replicas int  // the most Replicas of its cached datasets
}

type submitReq struct{ j *job }
type joinReq struct {
	name     string
	slots    int
	reserved bool
}
type lostReq struct{ name string }
type freeReq struct{ ids []lineage.ID }
type statsReq struct{ reply chan Stats }
type cachedReq struct {
	ds    *lineage.Dataset
	reply chan bool
}

// NewDriver starts a driver's event loop.
func NewDriver(cfg Config, t Transport) *Driver {
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = 4096
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.DrainWait <= 0 {
		cfg.DrainWait = DefaultDrainWait
	}
	d := &Driver{
		cfg:        cfg,
		transport:  t,
		events:     make(chan any, cfg.EventQueue),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		sched:      scheduler.New(cfg.Scheduler),
		jobs:       make(map[scheduler.JobID]*job),
		stages:     make(map[scheduler.StageID]*stage),
		byShuffle:  make(map[lineage.ShuffleID]scheduler.StageID),
		mapOut:     make(map[lineage.ShuffleID][]string),
		blocks:     make(map[blockstore.ID][]string),
		running:    make(map[scheduler.Task]string),
		launchedAt: make(map[scheduler.Task]time.Time),
		excluded:   make(map[string]bool),
		workers:    make(map[string]int),
		reserved:   make(map[string]bool),
		recv:       make(map[int32]*recvState),
		draining:   make(map[string]*drainState),
	}
	d.bgCtx, d.bgCancel = context.WithCancel(context.Background())
	go d.loop()
	return d
}

// Close stops the event loop; pending jobs fail with ErrStopped.
func (d *Driver) Close() {
	d.closeOnce.Do(func() {
		close(d.quit)
		d.bgCancel()
	})
	<-d.done
	d.bg.Wait()
}

func (d *Driver) send(ev any) error {
	select {
	case d.events <- ev:
		return nil
	case <-d.quit:
		return ErrStopped
	}
}

// AddWorker registers a worker with the given task slots.
func (d *Driver) AddWorker(name string, slots int) error {
	return d.send(joinReq{name, slots, false})
}

// AddReservedWorker registers a worker in the driver's process that runs
// the stages of datasets only the driver can build (see Config.Pinned),
// and nothing else.
func (d *Driver) AddReservedWorker(name string, slots int) error {
	return d.send(joinReq{name, slots, true})
}

// WorkerLost tells the driver a worker is gone.
func (d *Driver) WorkerLost(name string) error { return d.send(lostReq{name}) }

// Report delivers a task result; workers (or the transport) call it.
func (d *Driver) Report(r TaskResult) { _ = d.send(r) }

// Free drops the blocks and shuffle outputs of datasets nothing needs any more.
func (d *Driver) Free(ids []lineage.ID) error { return d.send(freeReq{ids}) }

// Stats returns counters from the event loop.
func (d *Driver) Stats() Stats {
	r := make(chan Stats, 1)
	if d.send(statsReq{r}) != nil {
		return Stats{}
	}
	select {
	case s := <-r:
		return s
	case <-d.quit:
		return Stats{}
	}
}

// FullyCached reports whether every partition of ds is in some worker's
// block store.
func (d *Driver) FullyCached(ds *lineage.Dataset) bool {
	r := make(chan bool, 1)
	if d.send(cachedReq{ds, r}) != nil {
		return false
	}
	select {
	case ok := <-r:
		return ok
	case <-d.quit:
		return false
	}
}

// RunJob computes every partition of ds and applies action to each on the
// workers; it returns the actions' results in partition order.
func (d *Driver) RunJob(ctx context.Context, ds *lineage.Dataset, batch int64, action Action) ([]any, error) {
	if ds.NumParts == 0 {
		return nil, nil
	}
	for attempt := 1; ; attempt++ {
		j := &job{id: scheduler.JobID(d.jobSeq.Add(1)), batch: batch, action: action, final: ds,
			results: make([]any, ds.NumParts), shipped: make([]bool, ds.NumParts), reply: make(chan jobResult, 1)}
		if err := d.send(submitReq{j}); err != nil {
			return nil, err
		}
		select {
		case r := <-j.reply:
			if r.err != nil && j.replan && attempt < maxReplans {
				continue // planned again: the lost blocks are no longer counted as cached
			}
			if r.err != nil {
				return nil, r.err
			}
			return finish(ctx, j, r.values)
		case <-ctx.Done():
			_ = d.send(scheduler.CancelJob{Job: j.id, Reason: ctx.Err().Error()})
			return nil, ctx.Err()
		case <-d.quit:
			return nil, ErrStopped
		}
	}
}

// maxReplans bounds how many times a job is planned again because cached
// partitions its plan relied on were lost.
const maxReplans = 8

// replan plans again the jobs that must be because attempt r of stage st
// needed a shuffle the plan left out: a cached partition the plan read
// instead was lost. A job whose result stage asked keeps its results and
// running attempts (see replanJob). For a map stage, which keeps its first
// plan while any job lists it, the jobs are abandoned and their RunJob
// submits them again.
func (d *Driver) replan(st *stage, r TaskResult) {
	reason := r.Err.Error()
	if j := st.job; j != nil {
		if j.replans++; j.replans <= maxReplans {
			d.replanJob(j, &scheduler.RunningTask{Task: r.Task, Worker: scheduler.WorkerID(r.Worker)})
			return
		}
		d.step(scheduler.CancelJob{Job: j.id, Reason: fmt.Sprintf("planned again %d times: %s", maxReplans, reason)})
		return
	}
	// A map stage keeps its first plan (see mapStage): plan it again, and
	// every job, since any may share it.
	st.built = false
	var ids []scheduler.JobID
	for id := range d.jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, k int) bool { return ids[i] < ids[k] })
	for _, id := range ids {
		if j := d.jobs[id]; j != nil {
			j.replan = true
			d.step(scheduler.CancelJob{Job: id, Reason: reason})
		}
	}
}

// finish decodes the results that crossed processes and applies the
// action's function to the partitions that were shipped to the driver, in
// partition order, on the caller's goroutine (not the event loop's).
func finish(ctx context.Context, j *job, values []any) ([]any, error) {
	for p, v := range values {
		if b, ok := v.(Encoded); ok {
			part, err := j.final.Type.Decode(b)
			if err != nil {
				return nil, fmt.Errorf("runtime: result of %v partition %d: %w", j.final, p, err)
			}
			values[p] = part
		}
		if j.shipped[p] {
			if j.action.Fn == nil {
				return nil, fmt.Errorf("runtime: %v partition %d was shipped for an action without a function", j.final, p)
			}
			v, err := j.action.Fn(driverTask{ctx, j.batch}, p, values[p])
			if err != nil {
				return nil, err
			}
			values[p] = v
		}
	}
	return values, nil
}

// driverTask is the TaskContext of an action function applied on the
// driver to a shipped partition: it has a context and a batch time, and
// reads nothing.
type driverTask struct {
	ctx   context.Context
	batch int64
}

func (t driverTask) Context() context.Context { return t.ctx }
func (t driverTask) BatchTime() int64         { return t.batch }
func (t driverTask) Partition(d *lineage.Dataset, p int) (any, error) {
	return nil, fmt.Errorf("runtime: an action function applied on the driver cannot read %v", d)
}
func (t driverTask) Fetch(dep *lineage.ShuffleDep, r int) ([]any, error) {
	return nil, fmt.Errorf("runtime: an action function applied on the driver cannot fetch %v", dep.ID)
}

func (d *Driver) loop() {
	defer close(d.done)
	start := time.Now()
	tick := time.NewTicker(d.cfg.TickInterval)
	defer tick.Stop()
	var last time.Duration // the scheduler's time never goes back
	for {
		select {
		case ev := <-d.events:
			d.handle(ev)
		case <-tick.C:
			// The time of the handling, not the one the ticker sent: a
			// tick's value can be older than the previous tick's (one
			// was seen 74 ms older under load), which the scheduler
			// rightly refuses.
			last = max(last, time.Since(start))
			d.step(scheduler.Tick{Now: last})
		case <-d.quit:
			d.failAll(ErrStopped)
			return
		}
		if len(d.draining) > 0 {
			d.advanceDrains()
		}
	}
}

func (d *Driver) failAll(err error) {
	for id, j := range d.jobs {
		j.reply <- jobResult{err: err}
		delete(d.jobs, id)
	}
}

func (d *Driver) handle(ev any) {
	switch e := ev.(type) {
	case submitReq:
		d.submit(e.j)
	case TaskResult:
		d.taskResult(e)
	case joinReq:
		if _, ok := d.workers[e.name]; ok { // a restarted worker reusing its name
			d.workerLost(e.name)
		}
		d.workers[e.name] = e.slots
		d.reserved[e.name] = e.reserved
		if !e.reserved {
			d.event(Event{Kind: EventWorkerJoined, Worker: e.name, Message: fmt.Sprintf("%s joined (task slots: %d)", e.name, e.slots)})
		}
		d.step(scheduler.WorkerJoined{Worker: scheduler.WorkerID(e.name), Slots: e.slots, Reserved: e.reserved})
		d.placeReceivers()
	case lostReq:
		d.workerLost(e.name)
	case recvStartReq, recvStopReq, blockReq, recvRateReq:
		d.receiverEvent(e)
	case freeReq:
		d.free(e.ids)
	case drainReq:
		e.reply <- d.startDrain(e.name)
	case copiedReq:
		d.copied(e)
	case scheduler.CancelJob:
		if d.jobs[e.Job] != nil {
			d.step(e)
		}
	case cachedReq:
		e.reply <- d.allCached(e.ds)
	case statsReq:
		d.stats.Workers = len(d.workers)
		d.stats.CachedBlocks = len(d.blocks)
		d.stats.Shuffles = len(d.mapOut)
		st := d.stats
		ss := d.sched.Status()
		st.Speculation = ss.Counters
		for _, w := range ss.Workers {
			if w.Excluded {
				st.Excluded = append(st.Excluded, string(w.ID))
			}
		}
		st.Running = make([]RunningTask, 0, len(d.running))
		for t, w := range d.running {
			st.Running = append(st.Running, RunningTask{t, w})
		}
		st.WorkerNames = d.stayingWorkers()
		for w := range d.draining {
			st.WorkerNames = append(st.WorkerNames, w)
			st.Draining = append(st.Draining, w)
		}
		sort.Strings(st.WorkerNames)
		sort.Strings(st.Draining)
		st.Receivers = make(map[int32]string, len(d.recv))
		for n, rs := range d.recv {
			st.Receivers[n] = rs.worker
		}
		sort.Slice(st.Running, func(i, j int) bool {
			a, b := st.Running[i].Task, st.Running[j].Task
			if a.Job != b.Job {
				return a.Job < b.Job
			}
			if a.Stage != b.Stage {
				return a.Stage < b.Stage
			}
			return a.Partition < b.Partition
		})
		e.reply <- st
	default:
		panic(fmt.Sprintf("runtime: unknown driver event %T", ev))
	}
}

// step feeds one event to the scheduler and carries out its actions.
func (d *Driver) step(ev scheduler.Event) {
	if err := d.sched.Step(ev); err != nil {
		// Events built by the runtime are valid by construction; a
		// rejected one is a bug in the runtime.
		panic(fmt.Sprintf("runtime: scheduler refused %T: %v", ev, err))
	}
	d.performReady()
	d.observeExclusions()
}

func (d *Driver) performReady() {
	for _, a := range d.sched.Ready() {
		d.perform(a)
	}
}

func (d *Driver) perform(a scheduler.Action) {
	switch a := a.(type) {
	case scheduler.Launch:
		d.launch(a)
	case scheduler.Cancel:
		if w, ok := d.running[a.Task]; ok {
			d.observeTask(a.Task, launched{w, d.launchedAt[a.Task]}, nil, TaskCancelled, "cancelled")
		}
		d.forget(a.Task)
		d.transport.Cancel(string(a.Worker), a.Task)
	case scheduler.JobDone:
		if j := d.jobs[a.Job]; j != nil {
			d.observeJob(j, true, nil)
			d.endJob(j)
			j.reply <- jobResult{values: j.results}
		}
	case scheduler.JobFailed:
		if j := d.jobs[a.Job]; j != nil {
			err := fmt.Errorf("runtime: job %d failed: %s", a.Job, a.Reason)
			d.observeJob(j, true, err)
			d.endJob(j)
			j.reply <- jobResult{err: err}
		}
	}
}

func (d *Driver) endJob(j *job) {
	delete(d.jobs, j.id)
	delete(d.stages, j.resultStage)
}

func (d *Driver) launch(a scheduler.Launch) {
	st := d.stages[a.Task.Stage]
	if st == nil {
		panic(fmt.Sprintf("runtime: launch for unknown stage %d", a.Task.Stage))
	}
	desc := &TaskDesc{Task: a.Task, Dataset: st.ds.ID, ShuffleLocs: d.shuffleLocs(st), BlockLocs: d.blockLocs(st)}
	if d.cfg.Cuts {
		desc.Cuts = st.lineageCuts()
		if d.cfg.ExtraCuts != nil {
			desc.Cuts = appendCuts(desc.Cuts, d.cfg.ExtraCuts())
		}
	}
	if st.replicas > 1 {
		desc.ReplicateTo = d.replicaTargets(string(a.Worker), a.Task.Partition)
	}
	if st.shuffle != nil {
		id := st.shuffle.ID
		desc.Shuffle = &id
		desc.BatchTime = st.ds.ID.Time
	} else {
		desc.Action = st.job.action
		desc.BatchTime = st.job.batch
	}
	w := string(a.Worker)
	d.running[a.Task] = w
	d.launchedAt[a.Task] = time.Now()
	d.stats.TasksLaunched++
	if a.Task.Speculative {
		d.event(Event{Kind: EventSpeculation, Worker: w, Batch: desc.BatchTime,
			Message: fmt.Sprintf("speculative copy of %s partition %d launched on %s", st.ds.Op, a.Task.Partition, w)})
	}
	if err := d.transport.Launch(w, desc); err != nil {
		d.observeTask(a.Task, launched{w, d.launchedAt[a.Task]}, nil, TaskFailed, err.Error())
		d.forget(a.Task)
		if errors.Is(err, ErrWorkerGone) {
			d.workerLost(w) // the attempt goes back to pending with the worker's others
			return
		}
		d.step(scheduler.TaskFailed{Task: a.Task, Worker: a.Worker, Reason: err.Error()})
	}
}

// replicaTargets lists the other live workers, starting at one that
// depends on the partition so that copies spread over the cluster.
func (d *Driver) replicaTargets(self string, p int) []string {
	names := make([]string, 0, len(d.workers))
	for w := range d.workers {
		if w != self && !d.reserved[w] && d.draining[w] == nil {
			names = append(names, w)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil
	}
	k := p % len(names)
	return append(names[k:], names[:k]...)
}

// appendCuts adds the cuts of extra not in cuts.
func appendCuts(cuts, extra []Cut) []Cut {
	if len(extra) == 0 {
		return cuts
	}
	out := append([]Cut(nil), cuts...)
	for _, e := range extra {
		dup := false
		for _, c := range cuts {
			dup = dup || c.ID == e.ID
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}

// lineageCuts lists the truncated datasets in the whole lineage of st.ds
// (across shuffles too: a worker rebuilding ds rebuilds all of it).
func (st *stage) lineageCuts() []Cut {
	if st.cutsDone {
		return st.cuts
	}
	seen := make(map[*lineage.Dataset]bool)
	var walk func(ds *lineage.Dataset)
	walk = func(ds *lineage.Dataset) {
		if seen[ds] {
			return
		}
		seen[ds] = true
		if ds.Truncated() {
			st.cuts = append(st.cuts, Cut{ID: ds.ID, NumParts: ds.NumParts, Partitioning: ds.Partitioning})
			return
		}
		for _, dep := range ds.Dependencies() {
			walk(dep.Parent())
		}
	}
	walk(st.ds)
	st.cutsDone = true
	return st.cuts
}

func (d *Driver) shuffleLocs(st *stage) map[lineage.ShuffleID][]string {
	m := make(map[lineage.ShuffleID][]string, len(st.reads))
	for _, dep := range st.reads {
		m[dep.ID] = append([]string(nil), d.mapOut[dep.ID]...)
	}
	return m
}

func (d *Driver) blockLocs(st *stage) map[blockstore.ID][]string {
	if len(st.cached) == 0 {
		return nil
	}
	m := make(map[blockstore.ID][]string)
	for _, ds := range st.cached {
		for p := 0; p < ds.NumParts; p++ {
			id := blockstore.ID{Dataset: ds.ID, Part: p}
			if locs := d.blocks[id]; len(locs) > 0 {
				m[id] = locs
			}
		}
	}
	return m
}

func (d *Driver) taskResult(r TaskResult) {
	if w, ok := d.running[r.Task]; !ok || w != r.Worker {
		d.stats.StaleResults++
		return
	}
	l := launched{r.Worker, d.launchedAt[r.Task]}
	if r.Err == nil {
		d.observeTask(r.Task, l, &r, TaskOK, "")
	} else {
		d.observeTask(r.Task, l, &r, TaskFailed, r.Err.Error())
	}
	d.forget(r.Task)
	for _, id := range r.Cached {
		d.addBlock(id, r.Worker)
	}
	for _, c := range r.Replicated {
		if _, live := d.workers[c.Worker]; live {
			d.addBlock(c.ID, c.Worker)
		}
	}
	st := d.stages[r.Task.Stage]
	wid := scheduler.WorkerID(r.Worker)
	if r.Err == nil {
		if st.shuffle != nil {
			d.setMapOut(st.shuffle, r.Task.Partition, r.Worker)
		} else if st.job != nil {
			st.job.results[r.Task.Partition] = r.Value
			st.job.shipped[r.Task.Partition] = r.Shipped
		}
		d.step(scheduler.TaskFinished{Task: r.Task, Worker: wid})
		return
	}
	d.stats.TasksFailed++
	if errors.Is(r.Err, ErrUnplannedShuffle) {
		d.replan(st, r)
		return
	}
	var fe *FetchError
	if errors.As(r.Err, &fe) {
		// The map-output location is left alone: whether the output is
		// lost is the scheduler's decision, fenced against outputs
		// recomputed since the task read them (even on the same worker).
		// If it is lost, the map partition reruns before any task reads
		// the location again, and its result replaces it. (If the job
		// ends first, a later job may be offered the output as available:
		// its first fetch failure has it recomputed.)
		if sid, ok := d.byShuffle[fe.Shuffle]; ok {
			d.step(scheduler.TaskFailed{Task: r.Task, Worker: wid, Reason: r.Err.Error(),
				Fetch: &scheduler.FetchFailure{Stage: sid, Partition: fe.MapPart, Worker: scheduler.WorkerID(fe.Worker),
					Unreachable: errors.Is(r.Err, ErrPeerUnreachable)}})
			return
		}
	}
	d.step(scheduler.TaskFailed{Task: r.Task, Worker: wid, Reason: r.Err.Error()})
}

func (d *Driver) addBlock(id blockstore.ID, w string) {
	for _, x := range d.blocks[id] {
		if x == w {
			return
		}
	}
	d.blocks[id] = append(d.blocks[id], w)
}

func (d *Driver) setMapOut(dep *lineage.ShuffleDep, p int, w string) {
	locs := d.mapOut[dep.ID]
	if locs == nil {
		locs = make([]string, dep.P.NumParts)
		d.mapOut[dep.ID] = locs
	}
	locs[p] = w
}

func (d *Driver) workerLost(name string) {
	if _, ok := d.workers[name]; !ok {
		return
	}
	reserved := d.reserved[name]
	delete(d.workers, name)
	delete(d.reserved, name)
	lost := 0
	for t, w := range d.running {
		if w == name {
			d.observeTask(t, launched{w, d.launchedAt[t]}, nil, TaskCancelled, "worker lost")
			d.forget(t)
			lost++
		}
	}
	outputs, blocks := 0, 0
	for id, locs := range d.mapOut {
		for p, w := range locs {
			if w == name {
				d.mapOut[id][p] = ""
				outputs++
			}
		}
	}
	for id, locs := range d.blocks {
		d.blocks[id] = without(locs, name)
		if len(d.blocks[id]) == 0 {
			delete(d.blocks, id)
			blocks++
		}
	}
	if !reserved {
		d.event(Event{Kind: EventWorkerLost, Worker: name, Message: fmt.Sprintf(
			"%s lost: %d running tasks, %d shuffle outputs and %d blocks held nowhere else to recompute", name, lost, outputs, blocks)})
	}
	d.receiverLost(name)
	d.step(scheduler.WorkerLost{Worker: scheduler.WorkerID(name)})
	d.placeReceivers()
}

// forget drops what the driver keeps of a running attempt.
func (d *Driver) forget(t scheduler.Task) {
	delete(d.running, t)
	delete(d.launchedAt, t)
}

func without(xs []string, x string) []string {
	out := xs[:0:0]
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

func (d *Driver) free(ids []lineage.ID) {
	if len(ids) == 0 {
		return
	}
	set := make(map[lineage.ID]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	names := make([]string, 0, len(d.workers))
	for w := range d.workers {
		names = append(names, w)
	}
	sort.Strings(names)
	for _, w := range names {
		d.transport.Free(w, set)
	}
	for id := range d.blocks {
		if set[id.Dataset] {
			delete(d.blocks, id)
		}
	}
	for sh, sid := range d.byShuffle {
		if set[sh.Child] {
			delete(d.byShuffle, sh)
			delete(d.mapOut, sh)
			delete(d.stages, sid)
		}
	}
}
