package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultMaxTaskFailures        = 4
	DefaultMaxStageAttempts       = 8
	DefaultSpeculationQuantile    = 0.75
	DefaultSpeculationMultiplier  = 1.5
	DefaultSpeculationMinDuration = 100 * time.Millisecond
	DefaultExcludeAfter           = 3
	DefaultExcludeFor             = 30 * time.Second
)

// Limits on what one event may ask for (STYLE 7: a limit on everything). An
// event beyond them is rejected with ErrInvalidEvent.
const (
	MaxStagesPerJob   = 1 << 12
	MaxTasksPerStage  = 1 << 20
	MaxSlotsPerWorker = 1 << 16
)

// ErrInvalidEvent is wrapped by every error Step returns. It promises that
// the event was rejected as a whole: the scheduler's state is unchanged and
// no action was produced. Stale or unknown task results are not invalid
// events; they are ignored without an error (fencing).
var ErrInvalidEvent = errors.New("scheduler: invalid event")

// Scheduler is the driver's scheduling state machine. It is not safe for
// concurrent use: one goroutine (the runtime loop) owns it.
type Scheduler struct {
	cfg Config
	now time.Duration
	// step counts Step calls; it orders map-output productions against task
	// launches, so a late fetch failure cannot discard a newer output.
	step    uint64
	workers map[WorkerID]*worker
	order   []WorkerID // live worker IDs, sorted: the tie-break order
	free    int        // free slots over all live workers
	index   freeIndex  // finds the worker with the most free slots
	// reserved lists the live reserved workers, sorted, and reservedFree
	// counts their free slots: pinned stages look only at them.
	reserved     []WorkerID
	reservedFree int
	jobs         map[JobID]*job
	queue        []JobID // active job IDs, ascending: the priority order
	stages       map[StageID]*stage
	pass         uint64 // counts scheduling passes; see stage.visited
	mark         uint64 // counts needed-stage walks; see stage.needMark
	// visits lists the stages scheduled in the last pass, in pass order,
	// with the job each was scheduled for: the stages speculate visits.
	visits     []visit
	lastVisits []visit // the visits of the pass before
	excluded   int     // live workers that are excluded
	counters   Counters
	actions    []Action
}

type visit struct {
	j  *job
	st *stage
}

type worker struct {
	id       WorkerID
	slots    int
	running  int  // attempts running here; never above slots
	leaf     int  // its place in Scheduler.index (while that is valid)
	reserved bool // runs pinned stages only
	// draining says the worker is leaving (DrainWorker): it gets no new
	// attempt, and is no preference, until it is lost.
	draining bool
	// excluded says the worker is excluded until until (see
	// Config.ExcludeFor); strikes holds the times of its recent strikes,
	// oldest first, fewer than Config.ExcludeAfter.
	excluded bool
	until    time.Duration
	strikes  []time.Duration
}

func (w *worker) freeSlots() int { return w.slots - w.running }

type job struct {
	id JobID
	// stages in the job's topological order; the last is the result stage.
	// Shuffle-map stages may be shared with other active jobs.
	stages []*stage
}

// stage is the scheduler's state of one stage, shared by every active job
// that lists its ID. It is forgotten when no active job lists it.
type stage struct {
	id       StageID
	numTasks int
	result   bool
	owner    *job // the job whose result stage this is; nil for map stages
	parents  []*stage
	children []*stage // active stages that list this one as a parent
	prefer   [][]WorkerID
	pinned   bool // runs on reserved workers only
	parts    []part
	done     int // partitions whose output is available (or result delivered)
	running  int // partitions with a running attempt (one or two)
	jobs     int // active jobs that list this stage
	// scan is where the scheduling pass starts looking for pending
	// partitions: those below it are all done or running. Without it a
	// pass over a stage of 10,000 tasks would look at every finished one
	// again after each finish.
	scan int
	// took holds, sorted, the durations of the attempts that produced the
	// current outputs of the timed partitions (part.timed): the finished
	// partitions that speculation counts and takes the median of.
	took []time.Duration
	// gen is bumped whenever a parent's output goes missing. An attempt
	// launched under the current gen has seen only current parent outputs,
	// so its fetch failure is news; older attempts' fetch failures are not
	// counted against MaxStageAttempts.
	gen           int
	fetchFailures int    // counted fetch failures, bounded by MaxStageAttempts
	needMark      uint64 // == Scheduler.mark: needed by the job being walked
	visited       uint64 // == Scheduler.pass: scheduled in this pass
	active        bool   // needed and runnable at the last pass
}

func (st *stage) complete() bool { return st.done == st.numTasks }

func (st *stage) runnable() bool {
	for _, p := range st.parents {
		if !p.complete() {
			return false
		}
	}
	return true
}

// part is the state of one partition of a stage.
type part struct {
	done bool
	loc  WorkerID // where a map partition's output lives, when done
	// producedAt is the step at which the output at loc was produced.
	producedAt uint64
	// nrun counts the running attempts (see at): at most two, an attempt
	// and its backup copy, never on the same worker. run is the first;
	// backup, the second, is out of line: it is rare, and parts are many.
	run      attempt
	backup   *attempt
	nrun     int
	next     int // the next attempt number
	failures int // failed attempts, bounded by MaxTaskFailures
	// avoid is the worker a fetch found unreachable when this map
	// partition's output was lost there: its reruns go elsewhere while
	// another worker can run them (see place). Cleared when the output
	// exists again, or when that worker is lost.
	avoid WorkerID
	// waiting and waitFrom say since when the partition has been pending in
	// a runnable stage; LocalityWait is measured from waitFrom.
	waiting  bool
	waitFrom time.Duration
	// timed says the current output was produced by an attempt this
	// scheduler launched, which ran for took; its duration is in
	// stage.took.
	timed bool
	took  time.Duration
}

func (pt *part) running() bool { return pt.nrun > 0 }

// at returns running attempt i (< nrun) of pt, in launch order: with two,
// the second is the backup copy of the first (at(1).task.Speculative and
// at(0).backedUp are set).
func (pt *part) at(i int) *attempt {
	if i == 0 {
		return &pt.run
	}
	return pt.backup
}

// attempt is a running attempt.
type attempt struct {
	task       Task
	worker     WorkerID
	gen        int           // the stage's gen at launch
	launchedAt uint64        // the step at launch
	startedAt  time.Duration // the time (of the last Tick) at launch
	backedUp   bool          // a backup copy was launched for it (once at most)
}

// New returns a scheduler with no workers and no jobs.
func New(cfg Config) *Scheduler {
	if cfg.MaxTaskFailures <= 0 {
		cfg.MaxTaskFailures = DefaultMaxTaskFailures
	}
	if cfg.MaxStageAttempts <= 0 {
		cfg.MaxStageAttempts = DefaultMaxStageAttempts
	}
	if cfg.LocalityWait < 0 {
		cfg.LocalityWait = 0
	}
	if !(cfg.SpeculationQuantile > 0) { // NaN too
		cfg.SpeculationQuantile = DefaultSpeculationQuantile
	}
	cfg.SpeculationQuantile = min(cfg.SpeculationQuantile, 1)
	if !(cfg.SpeculationMultiplier > 0) {
		cfg.SpeculationMultiplier = DefaultSpeculationMultiplier
	}
	if cfg.SpeculationMinDuration <= 0 {
		cfg.SpeculationMinDuration = DefaultSpeculationMinDuration
	}
	if cfg.ExcludeAfter <= 0 {
		cfg.ExcludeAfter = DefaultExcludeAfter
	}
	if cfg.ExcludeFor <= 0 {
		cfg.ExcludeFor = DefaultExcludeFor
	}
	return &Scheduler{
		cfg:     cfg,
		workers: make(map[WorkerID]*worker),
		jobs:    make(map[JobID]*job),
		stages:  make(map[StageID]*stage),
	}
}

// Step applies one event, then launches whatever the freed slots and newly
// runnable tasks allow. The actions it produces are returned by Ready. It
// returns an error wrapping ErrInvalidEvent for an invalid event, and then
// changes nothing.
func (s *Scheduler) Step(ev Event) error {
	var err error
	s.step++
	switch ev := ev.(type) {
	case Tick:
		err = s.tick(ev)
	case WorkerJoined:
		err = s.workerJoined(ev)
	case WorkerLost:
		s.workerLost(ev)
	case DrainWorker:
		s.drainWorker(ev)
	case SubmitJob:
		err = s.submit(ev.Job)
	case ReplanJob:
		err = s.replan(ev)
	case CancelJob:
		s.cancelJob(ev)
	case TaskFinished:
		s.taskFinished(ev)
	case TaskFailed:
		s.taskFailed(ev)
	default:
		err = fmt.Errorf("%w: unknown event type %T (events are passed by value)", ErrInvalidEvent, ev)
	}
	if err != nil {
		return err
	}
	s.schedule()
	return nil
}

// Ready drains the actions produced since the last call, in the order they
// were produced. The runtime performs them in that order.
func (s *Scheduler) Ready() []Action {
	a := s.actions
	s.actions = nil
	return a
}

func (s *Scheduler) emit(a Action) { s.actions = append(s.actions, a) }

func (s *Scheduler) tick(ev Tick) error {
	if ev.Now < s.now {
		return fmt.Errorf("%w: tick at %v is before the current time %v", ErrInvalidEvent, ev.Now, s.now)
	}
	s.now = ev.Now
	s.readmit()
	return nil
}

// endJob forgets j and reports it: JobDone if done, else JobFailed with
// reason. Attempts of stages no other active job lists are cancelled first.
func (s *Scheduler) endJob(j *job, done bool, reason string) {
	delete(s.jobs, j.id)
	if i, ok := slices.BinarySearch(s.queue, j.id); ok {
		s.queue = slices.Delete(s.queue, i, i+1)
	}
	for _, st := range j.stages {
		st.jobs--
		if st.jobs == 0 {
			s.dropStage(st)
		}
	}
	if done {
		s.emit(JobDone{Job: j.id})
	} else {
		s.emit(JobFailed{Job: j.id, Reason: reason})
	}
}

// dropStage cancels the running attempts of a stage no active job lists
// any more, and forgets it: its output locations are the runtime's to keep.
func (s *Scheduler) dropStage(st *stage) {
	for p := range st.parts {
		pt := &st.parts[p]
		for pt.running() {
			run := s.release(st, pt, 0, false)
			s.emit(Cancel{Task: run.task, Worker: run.worker})
		}
	}
	delete(s.stages, st.id)
	for _, par := range st.parents {
		par.children = slices.DeleteFunc(par.children, func(c *stage) bool { return c == st })
	}
}

// failStage fails, in priority order, every active job that lists st.
func (s *Scheduler) failStage(st *stage, reason string) {
	var victims []*job
	for _, id := range s.queue {
		if j := s.jobs[id]; slices.Contains(j.stages, st) {
			victims = append(victims, j)
		}
	}
	for _, j := range victims {
		s.endJob(j, false, reason)
	}
}

// release ends running attempt i of pt, frees its slot and returns it. won
// says it finished first; a backup copy that did not is wasted.
func (s *Scheduler) release(st *stage, pt *part, i int, won bool) attempt {
	invariant(i < pt.nrun, "release of stage %d attempt %d of %d running", st.id, i, pt.nrun)
	run := *pt.at(i)
	w := s.workers[run.worker]
	invariant(w != nil, "running attempt %v on unknown worker %q", run.task, run.worker)
	invariant(w.running > 0 && st.running > 0, "running counts below zero for %v", run.task)
	s.vacate(w)
	switch {
	case pt.nrun == 1:
		pt.run = attempt{}
	case i == 0:
		pt.run, pt.backup = *pt.backup, nil // the backup runs on alone
	default:
		pt.backup = nil
	}
	pt.nrun--
	if pt.nrun == 0 {
		st.running--
		if !won { // pending again (unless the other copy just won)
			st.scan = min(st.scan, run.task.Partition)
		}
	}
	if run.task.Speculative {
		if won {
			s.counters.SpeculativeWon++
		} else {
			s.counters.SpeculativeWasted++
		}
	}
	return run
}

// lose marks the output of map partition p of st missing.
func (s *Scheduler) lose(st *stage, p int) {
	pt := &st.parts[p]
	invariant(pt.done && !st.result, "lose of stage %d partition %d that has no output", st.id, p)
	pt.done = false
	pt.loc = ""
	st.done--
	st.scan = min(st.scan, p)
	if pt.timed {
		st.dropTook(pt)
	}
	for _, c := range st.children {
		c.gen++
	}
}

// occupy takes a slot of w for an attempt; vacate frees one.
func (s *Scheduler) occupy(w *worker) {
	w.running++
	s.free--
	if w.reserved {
		s.reservedFree--
	}
	s.index.update(w)
}

func (s *Scheduler) vacate(w *worker) {
	w.running--
	s.free++
	if w.reserved {
		s.reservedFree++
	}
	s.index.update(w)
}

// freeFor returns the free slots of the workers that may run the tasks of
// a pinned stage (the reserved ones), or of another stage (the others).
func (s *Scheduler) freeFor(pinned bool) int {
	if pinned {
		return s.reservedFree
	}
	return s.free - s.reservedFree
}

// invariant panics when a cheap internal consistency check fails: that is a
// bug in the scheduler, not an operational failure.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("scheduler: invariant violated: " + fmt.Sprintf(format, args...))
	}
}
