package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/internal/scheduler"
)

// event kinds, in the order they are handled when due at the same time:
// a failure, then finishes, then submissions, then ticks.
const (
	evFail = iota
	evFinish
	evSubmit
	evTick
)

type event struct {
	at   time.Duration
	kind int
	seq  uint64 // breaks ties: events due together run in the order scheduled
	// For evFinish: the attempt and where it runs. For evSubmit: the batch.
	task   scheduler.Task
	worker scheduler.WorkerID
	batch  int
}

// eventHeap is a binary min-heap of events by (at, kind, seq). It is typed
// rather than container/heap's, whose interface boxes every event pushed:
// an allocation per event, a fifth of a large run's time.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		up := (i - 1) / 2
		if !q.less(i, up) {
			break
		}
		q[i], q[up] = q[up], q[i]
		i = up
	}
}

func (h *eventHeap) pop() event {
	q := *h
	e := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && q.less(c+1, c) {
			c++
		}
		if !q.less(c, i) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	*h = q
	return e
}

type attemptKey struct {
	task   scheduler.Task
	worker scheduler.WorkerID
}

// run is the state of one simulation.
type run struct {
	cfg Config
	rng *rand.Rand
	// recRng draws the recovery tasks' durations: the batches' come from
	// rng whether or not a failure needs recovery tasks, so that the two
	// runs of Run draw the same batches.
	recRng *rand.Rand
	s      *scheduler.Scheduler
	now    time.Duration
	events eventHeap
	seq    uint64
	steps  int // events handled, bounded by MaxEvents

	workers []scheduler.WorkerID
	slow    map[scheduler.WorkerID]float64 // straggler slowdowns
	dead    scheduler.WorkerID             // the failed node, once failed
	// cancelled holds the attempts cancelled while running: their finish
	// events are dropped (as are those of the failed node's, after the
	// failure). Launches and finishes, the common case, touch no map.
	cancelled map[attemptKey]bool
	base      [][]time.Duration       // task durations by stage ID, then partition
	batchOf   map[scheduler.JobID]int // batch job → batch
	mapTasks  int                     // per batch
	redTasks  int
	mean      time.Duration // actual mean task duration

	submitted int
	doneAt    []time.Duration // JobDone time per batch, -1 until then
	// UpstreamBackup: when the standby finished its share of each batch
	// after the failure (-1 until then; 0 for batches it has no share of),
	// and the batch of each of its share jobs.
	shareAt []time.Duration
	shareOf map[scheduler.JobID]int
	// shares are the batches whose share waits for the standby, in
	// order; standbyBusy says it runs the replay or a share.
	shares      []int
	standbyBusy bool
	inOrder     int // batches 0..inOrder-1 are all done
	nextStage   scheduler.StageID
	pending     int // active jobs

	rebuild     bool // a failure loses the state since the checkpoint
	failed      bool
	recoveryJob scheduler.JobID
	recoveryAt  time.Duration // when the lost state is rebuilt (-1: not yet)
	lost        int           // batches since the checkpoint at the failure
	recTasks    int           // tasks of the recovery job
	chains      int           // Parallel: its chains, one per state partition lost
}

// Run simulates one run. With a failure, it also simulates the same run
// with a failure that loses no state (the node leaves, or the standby
// takes its place, but nothing needs rebuilding): what batches take then
// is what on schedule means for Result.Recovery.
func Run(cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	r := newRun(cfg)
	r.rebuild = true
	if cfg.FailAt == 0 {
		if err := r.loop(); err != nil {
			return Result{}, err
		}
		return r.result(cfg.Batches), nil
	}
	ref := newRun(cfg)
	if err := r.start(); err != nil {
		return Result{}, err
	}
	if err := ref.start(); err != nil {
		return Result{}, err
	}
	// Both runs go on one interval at a time, until they are done or
	// the failed one has caught up for good.
	for until := cfg.FailAt; ; until += cfg.BatchInterval {
		more, err := r.advance(until)
		if err != nil {
			return Result{}, err
		}
		moreRef, err := ref.advance(until)
		if err != nil {
			return Result{}, err
		}
		if !more && !moreRef || caughtUp(r, ref) || ref.submitted-ref.inOrder > MaxBehind {
			break
		}
	}
	n := min(completed(r), completed(ref))
	res := r.result(n)
	recovered(&res, ref.result(n).Processing)
	res.Events += ref.steps
	return res, nil
}

// MaxBehind ends a run with a failure once its reference is this many
// batches behind: the cluster left cannot carry the load even without
// the lost state, so the run, which has more to do, never catches up
// (and an overloaded run is slow to simulate: every scheduling pass
// visits every batch waiting).
const MaxBehind = 10

// CaughtUpAfter is how many batches in a row must complete on time (see
// Result.Recovery) after the lost state is rebuilt before a run with a
// failure ends: its lateness is over for good.
const CaughtUpAfter = 5

// caughtUp says whether the last CaughtUpAfter batches that r and ref
// both completed, all after the rebuild, were on time in r.
func caughtUp(r, ref *run) bool {
	if r.recoveryAt < 0 {
		return false
	}
	got, want := r.completions(), ref.completions()
	onTime := 0
	for b := min(completed(r), completed(ref)) - 1; b >= 0 && onTime < CaughtUpAfter; b-- {
		if got[b] <= r.recoveryAt || got[b] > want[b]+r.mean {
			return false
		}
		onTime++
	}
	return onTime == CaughtUpAfter
}

// completed returns how many batches, from the first, r has completed.
func completed(r *run) int {
	n := 0
	for _, at := range r.completions() {
		if at < 0 {
			break
		}
		n++
	}
	return n
}

func newRun(cfg Config) *run {
	r := &run{
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		recRng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed2)),
		s:          scheduler.New(scheduler.Config{Epoch: 1, NoSpeculation: !cfg.Speculation}),
		slow:       map[scheduler.WorkerID]float64{},
		cancelled:  map[attemptKey]bool{},
		base:       [][]time.Duration{nil}, // stage IDs start at 1
		batchOf:    map[scheduler.JobID]int{},
		doneAt:     make([]time.Duration, cfg.Batches),
		shareAt:    make([]time.Duration, cfg.Batches),
		shareOf:    map[scheduler.JobID]int{},
		recoveryAt: -1,
	}
	for i := range r.doneAt {
		r.doneAt[i] = -1
	}
	work := cfg.Load * float64(cfg.BatchInterval) * float64(cfg.Nodes*cfg.SlotsPerNode)
	tasks := max(2, int(math.Round(work/float64(cfg.TaskTime))))
	r.redTasks = tasks / 2
	r.mapTasks = tasks - r.redTasks
	r.mean = time.Duration(work / float64(tasks))
	for i := range cfg.Nodes {
		r.workers = append(r.workers, scheduler.WorkerID(fmt.Sprintf("w%05d", i)))
	}
	// Stragglers and the node that fails: distinct nodes from the seed.
	perm := r.rng.Perm(cfg.Nodes)
	for _, i := range perm[:cfg.Stragglers] {
		r.slow[r.workers[i]] = cfg.StragglerSlowdown
	}
	if cfg.FailAt > 0 {
		r.dead = r.workers[perm[cfg.Stragglers]]
	}
	return r
}

func (r *run) push(e event) {
	r.seq++
	e.seq = r.seq
	r.events.push(e)
}

// loop joins the workers, schedules the batches, the failure and the
// first tick, then handles events in time order until every job is done.
func (r *run) loop() error {
	if err := r.start(); err != nil {
		return err
	}
	_, err := r.advance(r.horizon())
	return err
}

// start joins the workers and schedules the batches, the failure and the
// first tick.
func (r *run) start() error {
	for _, w := range r.workers {
		if err := r.step(scheduler.WorkerJoined{Worker: w, Slots: r.cfg.SlotsPerNode}); err != nil {
			return err
		}
	}
	for b := range r.cfg.Batches {
		r.push(event{at: time.Duration(b+1) * r.cfg.BatchInterval, kind: evSubmit, batch: b})
	}
	if r.cfg.FailAt > 0 {
		r.push(event{at: r.cfg.FailAt, kind: evFail})
	}
	if r.cfg.Speculation {
		// Periodic ticks let speculation see stragglers; without it
		// the tick before each event is all the scheduler needs.
		r.push(event{at: r.cfg.TickInterval, kind: evTick})
	}
	return nil
}

// horizon is when a run ends at the latest: a cluster that does not keep
// up would never drain, so as long after the last batch as the batches
// took.
func (r *run) horizon() time.Duration {
	return 2 * time.Duration(r.cfg.Batches+1) * r.cfg.BatchInterval
}

// advance handles the events due up to until (and the horizon), in time
// order, and says whether any are left before the horizon.
func (r *run) advance(until time.Duration) (more bool, err error) {
	until = min(until, r.horizon())
	for len(r.events) > 0 && r.events[0].at <= until {
		if r.steps++; r.steps > MaxEvents {
			return false, fmt.Errorf("sim: more than %d events: the cluster does not keep up", MaxEvents)
		}
		e := r.events.pop()
		if e.kind == evTick && r.submitted == r.cfg.Batches && r.pending == 0 && (!r.failed || r.recoveryAt >= 0) {
			continue // all done: let the heap run dry
		}
		if err := r.handle(e); err != nil {
			return false, err
		}
	}
	return len(r.events) > 0 && r.events[0].at <= r.horizon(), nil
}

// handle advances the scheduler's clock to e's time, then applies e.
func (r *run) handle(e event) error {
	if e.at > r.now {
		r.now = e.at
		if err := r.step(scheduler.Tick{Now: r.now}); err != nil {
			return err
		}
	}
	switch e.kind {
	case evTick:
		r.push(event{at: r.now + r.cfg.TickInterval, kind: evTick})
		return nil
	case evSubmit:
		return r.submitBatch(e.batch)
	case evFail:
		return r.fail()
	}
	if r.failed && e.worker == r.dead {
		return nil // lost with its worker
	}
	if k := (attemptKey{e.task, e.worker}); r.cancelled[k] {
		delete(r.cancelled, k)
		return nil
	}
	return r.step(scheduler.TaskFinished{Task: e.task, Worker: e.worker})
}

// step feeds one event to the scheduler and carries out its actions.
func (r *run) step(ev scheduler.Event) error {
	if err := r.s.Step(ev); err != nil {
		return fmt.Errorf("sim: at %v: %w", r.now, err)
	}
	feed := false
	for _, a := range r.s.Ready() {
		switch a := a.(type) {
		case scheduler.Launch:
			r.launch(a)
		case scheduler.Cancel:
			r.cancelled[attemptKey{a.Task, a.Worker}] = true
		case scheduler.JobDone:
			r.jobDone(a.Job)
			feed = r.failed && r.cfg.Model == UpstreamBackup
		case scheduler.JobFailed:
			return fmt.Errorf("sim: at %v: job %d failed: %s", r.now, a.Job, a.Reason)
		}
	}
	if feed {
		return r.feedStandby()
	}
	return nil
}

// launch schedules the attempt's finish. Its duration is its partition's
// base duration (the same for a backup copy: the data is the same),
// times the worker's slowdown.
func (r *run) launch(a scheduler.Launch) {
	d := r.base[a.Task.Stage][a.Task.Partition]
	if len(r.slow) > 0 {
		if f, ok := r.slow[a.Worker]; ok {
			d = time.Duration(float64(d) * f)
		}
	}
	r.push(event{at: r.now + max(d, 1), kind: evFinish, task: a.Task, worker: a.Worker})
}

// durations draws n task durations of the given mean from rng.
func (r *run) durations(rng *rand.Rand, n int, mean time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	sd := r.cfg.TaskSpread
	for i := range out {
		f := math.Exp(sd*rng.NormFloat64() - sd*sd/2) // mean 1
		out[i] = time.Duration(float64(mean) * f)
	}
	return out
}

func (r *run) newStage(rng *rand.Rand, n int, mean time.Duration) scheduler.StageID {
	r.nextStage++
	r.base = append(r.base, r.durations(rng, n, mean))
	return r.nextStage
}

// Batch b is job 2b+2; a recovery job takes the odd ID below the first
// batch not done, so that it has priority over every batch waiting.
//
// After a failure under UpstreamBackup, the live nodes get only their own
// share of a batch's tasks, and the standby the failed node's.
func (r *run) submitBatch(b int) error {
	maps, reds := r.mapTasks, r.redTasks
	upstream := r.failed && r.cfg.Model == UpstreamBackup
	if upstream {
		keep := float64(r.cfg.Nodes-1) / float64(r.cfg.Nodes)
		maps = max(1, int(math.Round(float64(maps)*keep)))
		reds = max(1, int(math.Round(float64(reds)*keep)))
	}
	m := r.newStage(r.rng, maps, r.mean)
	red := r.newStage(r.rng, reds, r.mean)
	id := scheduler.JobID(2*b + 2)
	r.batchOf[id] = b
	r.submitted++
	r.pending++
	err := r.step(scheduler.SubmitJob{Job: scheduler.Job{ID: id, Stages: []scheduler.Stage{
		{ID: m, NumTasks: maps},
		{ID: red, NumTasks: reds, Parents: []scheduler.StageID{m}, Result: true},
	}}})
	if err == nil && upstream {
		err = r.submitShare(b)
	}
	return err
}

func (r *run) jobDone(id scheduler.JobID) {
	r.pending--
	if id == r.recoveryJob && r.failed {
		r.recoveryAt = r.now
		r.standbyBusy = false
		return
	}
	if b, ok := r.shareOf[id]; ok {
		r.shareAt[b] = r.now
		r.standbyBusy = false
		return
	}
	b := r.batchOf[id]
	r.doneAt[b] = r.now
	for r.inOrder < len(r.doneAt) && r.doneAt[r.inOrder] >= 0 {
		r.inOrder++
	}
}
