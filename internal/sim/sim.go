package sim

import (
	"container/heap"
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

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type attemptKey struct {
	task   scheduler.Task
	worker scheduler.WorkerID
}

// run is the state of one simulation.
type run struct {
	cfg    Config
	rng    *rand.Rand
	s      *scheduler.Scheduler
	now    time.Duration
	events eventHeap
	seq    uint64
	steps  int // events handled, bounded by MaxEvents

	workers  []scheduler.WorkerID
	slow     map[scheduler.WorkerID]float64 // straggler slowdowns
	dead     scheduler.WorkerID             // the failed node, once failed
	running  map[attemptKey]bool            // launched, not cancelled or lost
	base     map[scheduler.StageID][]time.Duration
	batchOf  map[scheduler.JobID]int // batch job → batch
	mapTasks int                     // per batch
	redTasks int
	mean     time.Duration // actual mean task duration

	submitted int
	doneAt    []time.Duration // JobDone time per batch, -1 until then
	inOrder   int             // batches 0..inOrder-1 are all done
	nextStage scheduler.StageID
	pending   int // active jobs

	failed      bool
	recoveryJob scheduler.JobID
	recoveryAt  time.Duration // when the lost state is rebuilt (-1: not yet)
	lost        int           // batches since the checkpoint at the failure
	recTasks    int
}

// Run simulates one run.
func Run(cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	r := newRun(cfg)
	if err := r.loop(); err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

func newRun(cfg Config) *run {
	r := &run{
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		s:          scheduler.New(scheduler.Config{Epoch: 1, NoSpeculation: !cfg.Speculation}),
		slow:       map[scheduler.WorkerID]float64{},
		running:    map[attemptKey]bool{},
		base:       map[scheduler.StageID][]time.Duration{},
		batchOf:    map[scheduler.JobID]int{},
		doneAt:     make([]time.Duration, cfg.Batches),
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
	heap.Push(&r.events, e)
}

// loop joins the workers, schedules the batches, the failure and the
// first tick, then handles events in time order until every job is done.
func (r *run) loop() error {
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
	r.push(event{at: r.cfg.TickInterval, kind: evTick})
	// A cluster that does not keep up would never drain: the run ends
	// at the latest as long after the last batch as the batches took.
	horizon := 2 * time.Duration(r.cfg.Batches+1) * r.cfg.BatchInterval
	for len(r.events) > 0 && r.events[0].at <= horizon {
		if r.steps++; r.steps > MaxEvents {
			return fmt.Errorf("sim: more than %d events: the cluster does not keep up", MaxEvents)
		}
		e := heap.Pop(&r.events).(event)
		if e.kind == evTick && r.submitted == r.cfg.Batches && r.pending == 0 && (!r.failed || r.recoveryAt >= 0) {
			continue // all done: let the heap run dry
		}
		if err := r.handle(e); err != nil {
			return err
		}
	}
	return nil
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
	k := attemptKey{e.task, e.worker}
	if !r.running[k] {
		return nil // cancelled or lost with its worker
	}
	delete(r.running, k)
	return r.step(scheduler.TaskFinished{Task: e.task, Worker: e.worker})
}

// step feeds one event to the scheduler and carries out its actions.
func (r *run) step(ev scheduler.Event) error {
	if err := r.s.Step(ev); err != nil {
		return fmt.Errorf("sim: at %v: %w", r.now, err)
	}
	for _, a := range r.s.Ready() {
		switch a := a.(type) {
		case scheduler.Launch:
			r.launch(a)
		case scheduler.Cancel:
			delete(r.running, attemptKey{a.Task, a.Worker})
		case scheduler.JobDone:
			r.jobDone(a.Job)
		case scheduler.JobFailed:
			return fmt.Errorf("sim: at %v: job %d failed: %s", r.now, a.Job, a.Reason)
		}
	}
	return nil
}

// launch schedules the attempt's finish. Its duration is its partition's
// base duration (the same for a backup copy: the data is the same),
// times the worker's slowdown.
func (r *run) launch(a scheduler.Launch) {
	d := r.base[a.Task.Stage][a.Task.Partition]
	if f, ok := r.slow[a.Worker]; ok {
		d = time.Duration(float64(d) * f)
	}
	r.running[attemptKey{a.Task, a.Worker}] = true
	r.push(event{at: r.now + max(d, 1), kind: evFinish, task: a.Task, worker: a.Worker})
}

// durations draws n task durations of the given mean.
func (r *run) durations(n int, mean time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	sd := r.cfg.TaskSpread
	for i := range out {
		f := math.Exp(sd*r.rng.NormFloat64() - sd*sd/2) // mean 1
		out[i] = time.Duration(float64(mean) * f)
	}
	return out
}

func (r *run) newStage(n int, mean time.Duration) scheduler.StageID {
	r.nextStage++
	r.base[r.nextStage] = r.durations(n, mean)
	return r.nextStage
}

// Batch b is job 2b+2; a recovery job takes the odd ID below the first
// batch not done, so that it has priority over every batch waiting.
func (r *run) submitBatch(b int) error {
	m := r.newStage(r.mapTasks, r.mean)
	red := r.newStage(r.redTasks, r.mean)
	id := scheduler.JobID(2*b + 2)
	r.batchOf[id] = b
	r.submitted++
	r.pending++
	return r.step(scheduler.SubmitJob{Job: scheduler.Job{ID: id, Stages: []scheduler.Stage{
		{ID: m, NumTasks: r.mapTasks},
		{ID: red, NumTasks: r.redTasks, Parents: []scheduler.StageID{m}, Result: true},
	}}})
}

func (r *run) jobDone(id scheduler.JobID) {
	r.pending--
	if id == r.recoveryJob && r.failed {
		r.recoveryAt = r.now
		return
	}
	b := r.batchOf[id]
	r.doneAt[b] = r.now
	for r.inOrder < len(r.doneAt) && r.doneAt[r.inOrder] >= 0 {
		r.inOrder++
	}
}
