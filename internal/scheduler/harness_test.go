package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The harness drives a scheduler with random workloads and failure
// schedules and checks it, after every step, against a simple model of what
// the runtime sees (STYLE 11). The choices come from a chooser: math/rand
// from a seed in TestRandomized, rapid's draws in TestProperty.

type chooser interface {
	intn(n int, label string) int // uniform in [0, n)
}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// universe is the fixed set of shuffle-map stages random jobs draw from, so
// that concurrent jobs share stages with consistent definitions.
var universe = []Stage{
	{ID: 1, NumTasks: 3},
	{ID: 2, NumTasks: 4, Parents: []StageID{1}},
	{ID: 3, NumTasks: 2},
	{ID: 4, NumTasks: 3, Parents: []StageID{2, 3}},
}

const resultStageBase = 100 // result stage of job j is resultStageBase+j

type harness struct {
	t     fataler
	c     chooser
	label string // identifies the run in failure messages (the seed)
	cfg   Config
	s     *Scheduler
	// The model: what a runtime carrying out the actions knows.
	live      map[WorkerID]int             // live workers and their slots
	draining  map[WorkerID]bool            // live workers told to drain
	everSeen  []WorkerID                   // every worker ID used, for rejoins
	running   map[Task]WorkerID            // attempts launched and not ended
	onWorker  map[WorkerID]int             // running attempts per worker
	active    map[JobID]Job                // submitted and not ended
	stageDefs map[StageID]Stage            // definitions of every stage seen
	delivered map[JobID]map[int]bool       // result partitions reported finished
	outputs   map[StageID]map[int]WorkerID // map outputs, a superset of the scheduler's
	startedAt map[Task]time.Duration       // running attempts' launch times
	backedUp  map[Task]bool                // running attempts that got a backup copy
	gone      []RunningTask                // recently ended attempts, for stale reports
	backups   int                          // speculative launches seen
	nextJob   JobID
	ended     int
	trace     strings.Builder // every event and action, to compare runs
}

func newHarness(t fataler, c chooser, label string) *harness {
	h := &harness{
		t: t, c: c, label: label,
		live:      map[WorkerID]int{},
		draining:  map[WorkerID]bool{},
		running:   map[Task]WorkerID{},
		onWorker:  map[WorkerID]int{},
		active:    map[JobID]Job{},
		stageDefs: map[StageID]Stage{},
		delivered: map[JobID]map[int]bool{},
		outputs:   map[StageID]map[int]WorkerID{},
		startedAt: map[Task]time.Duration{},
		backedUp:  map[Task]bool{},
		nextJob:   1,
	}
	for _, st := range universe {
		h.stageDefs[st.ID] = st
	}
	h.cfg = Config{
		Epoch:            int64(c.intn(3, "epoch")),
		MaxTaskFailures:  1 + c.intn(4, "max-task-failures"),
		MaxStageAttempts: 1 + c.intn(8, "max-stage-attempts"),
		LocalityWait:     time.Duration(c.intn(2, "locality-wait")) * 30 * time.Millisecond,
		// Speculation and exclusion, on more often than not, with the
		// defaults or settings that make them frequent within a run.
		NoSpeculation:          c.intn(4, "no-speculation") == 0,
		SpeculationQuantile:    []float64{0, 0.5, 1}[c.intn(3, "speculation-quantile")],
		SpeculationMultiplier:  []float64{0, 1, 2}[c.intn(3, "speculation-multiplier")],
		SpeculationMinDuration: []time.Duration{0, time.Millisecond, 20 * time.Millisecond}[c.intn(3, "speculation-min")],
		NoExclusion:            c.intn(4, "no-exclusion") == 0,
		ExcludeAfter:           c.intn(4, "exclude-after"),
		ExcludeFor:             []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond}[c.intn(3, "exclude-for")],
	}
	h.s = New(h.cfg)
	return h
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s: %s\ntrace:\n%s", h.label, fmt.Sprintf(format, args...), h.tail())
}

// tail is the end of the trace, enough to see what led to a failure.
func (h *harness) tail() string {
	lines := strings.Split(h.trace.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// step applies ev and checks every action against the model. It returns
// the actions, or nil and the error for a rejected event.
func (h *harness) step(ev Event) ([]Action, error) {
	h.t.Helper()
	fmt.Fprintf(&h.trace, "> %s\n", formatEvent(ev))
	if err := h.s.Step(ev); err != nil {
		fmt.Fprintf(&h.trace, "error: %v\n", err)
		if a := h.s.Ready(); len(a) > 0 {
			h.fatalf("rejected event produced actions %v", a)
		}
		return nil, err
	}
	acts := h.s.Ready()
	// Exclusions begin while an event is handled and end at a Tick, both
	// before the launches of the Step: the status after the Step tells
	// which workers were excluded when they were launched.
	after := h.s.Status()
	for _, a := range acts {
		fmt.Fprintf(&h.trace, "%s\n", formatAction(a))
		h.apply(a, after)
	}
	h.checkStatus()
	return acts, nil
}

func (h *harness) apply(a Action, after Status) {
	h.t.Helper()
	switch a := a.(type) {
	case Launch:
		h.checkLaunch(a, after)
		h.running[a.Task] = a.Worker
		h.onWorker[a.Worker]++
		h.startedAt[a.Task] = after.Now
	case Cancel:
		if w, ok := h.running[a.Task]; !ok || w != a.Worker {
			h.fatalf("cancel of %v on %s, which is not running there", a.Task, a.Worker)
		}
		h.endAttempt(a.Task)
	case JobDone:
		jb := h.mustActive(a.Job)
		res := jb.Stages[len(jb.Stages)-1]
		if got := len(h.delivered[a.Job]); got != res.NumTasks {
			h.fatalf("job %d done with %d of %d result partitions delivered", a.Job, got, res.NumTasks)
		}
		h.endJob(a.Job)
	case JobFailed:
		h.mustActive(a.Job)
		h.endJob(a.Job)
	default:
		h.fatalf("unknown action %#v", a)
	}
}

func (h *harness) checkLaunch(a Launch, after Status) {
	h.t.Helper()
	t := a.Task
	slots, ok := h.live[a.Worker]
	switch {
	case !ok:
		h.fatalf("launch of %v on worker %s, which is not live", t, a.Worker)
	case h.draining[a.Worker]:
		h.fatalf("launch of %v on worker %s, which is draining", t, a.Worker)
	case h.onWorker[a.Worker] >= slots:
		h.fatalf("launch of %v on worker %s, which has all %d slots busy", t, a.Worker, slots)
	case t.Epoch != h.cfg.Epoch:
		h.fatalf("launch of %v with a wrong epoch", t)
	}
	h.mustActive(t.Job)
	var others []Task
	for other := range h.running {
		if other.Stage == t.Stage && other.Partition == t.Partition {
			others = append(others, other)
		}
	}
	if t.Speculative {
		h.checkBackup(a, others, after)
	} else if len(others) > 0 {
		h.fatalf("launch of %v while %v is running", t, others[0])
	} else {
		h.checkIncluded(a, after)
	}
	for _, par := range h.stageDefs[t.Stage].Parents {
		for p := range h.stageDefs[par].NumTasks {
			if _, ok := h.outputs[par][p]; !ok {
				h.fatalf("launch of %v before output %d of parent stage %d exists", t, p, par)
			}
		}
	}
}

// checkBackup checks a speculative launch: one other attempt of the
// partition runs, on another worker, has run at least
// SpeculationMinDuration and got no backup before; the backup's worker is
// not excluded.
func (h *harness) checkBackup(a Launch, others []Task, after Status) {
	h.t.Helper()
	t := a.Task
	if h.cfg.NoSpeculation {
		h.fatalf("backup %v launched with speculation off", t)
	}
	if len(others) != 1 {
		h.fatalf("backup %v launched with %d attempts of its partition running", t, len(others))
	}
	orig := others[0]
	minRun := cmp.Or(h.cfg.SpeculationMinDuration, DefaultSpeculationMinDuration)
	switch {
	case h.running[orig] == a.Worker:
		h.fatalf("backup %v on %s, the worker of %v", t, a.Worker, orig)
	case h.backedUp[orig]:
		h.fatalf("second backup %v of %v", t, orig)
	case after.Now-h.startedAt[orig] < minRun:
		h.fatalf("backup %v of %v, which has run %v only", t, orig, after.Now-h.startedAt[orig])
	}
	for _, w := range after.Workers {
		if w.ID == a.Worker && w.Excluded {
			h.fatalf("backup %v on excluded worker %s", t, a.Worker)
		}
	}
	h.backedUp[orig] = true
	h.backups++
}

// checkIncluded checks that a task launched on an excluded worker had no
// other choice: no live worker is excluded but at most one (which the
// task may avoid: a fetch found it unreachable). Draining workers take
// no task: they do not count.
func (h *harness) checkIncluded(a Launch, after Status) {
	h.t.Helper()
	excluded, included := false, 0
	for _, w := range after.Workers {
		if w.ID == a.Worker {
			excluded = w.Excluded
		}
		if !w.Excluded && !w.Draining {
			included++
		}
	}
	if excluded && included > 1 {
		h.fatalf("launch of %v on excluded worker %s while %d workers are not excluded", a.Task, a.Worker, included)
	}
}

func (h *harness) mustActive(id JobID) Job {
	h.t.Helper()
	jb, ok := h.active[id]
	if !ok {
		h.fatalf("action names job %d, which is not active", id)
	}
	return jb
}

func (h *harness) endAttempt(t Task) {
	w := h.running[t]
	h.onWorker[w]--
	delete(h.running, t)
	delete(h.startedAt, t)
	delete(h.backedUp, t)
	h.gone = append(h.gone, RunningTask{Task: t, Worker: w})
	if len(h.gone) > 20 {
		h.gone = h.gone[1:]
	}
}

// endJob forgets a job, and the outputs of stages no active job lists.
func (h *harness) endJob(id JobID) {
	delete(h.active, id)
	h.ended++
	for st := range h.outputs {
		if !h.listed(st) {
			delete(h.outputs, st)
		}
	}
}

// listed says whether an active job lists stage id.
func (h *harness) listed(id StageID) bool {
	for _, jb := range h.active {
		if slices.ContainsFunc(jb.Stages, func(s Stage) bool { return s.ID == id }) {
			return true
		}
	}
	return false
}

// checkStatus compares the scheduler's Status with the model.
func (h *harness) checkStatus() {
	h.t.Helper()
	st := h.s.Status()
	var ws []string
	for _, w := range st.Workers {
		ws = append(ws, fmt.Sprintf("%s:%d:%d:%v", w.ID, w.Slots, w.Running, w.Draining))
		if w.Running < 0 || w.Running > w.Slots {
			h.fatalf("worker %s runs %d attempts with %d slots", w.ID, w.Running, w.Slots)
		}
	}
	var want []string
	for _, id := range slices.Sorted(maps.Keys(h.live)) {
		want = append(want, fmt.Sprintf("%s:%d:%d:%v", id, h.live[id], h.onWorker[id], h.draining[id]))
	}
	if !slices.Equal(ws, want) {
		h.fatalf("status workers %v, model %v", ws, want)
	}
	if len(st.Running) != len(h.running) {
		h.fatalf("status has %d running attempts, model %d", len(st.Running), len(h.running))
	}
	specRunning := 0
	for i, r := range st.Running {
		if w, ok := h.running[r.Task]; !ok || w != r.Worker {
			h.fatalf("status runs %v on %s, model does not", r.Task, r.Worker)
		}
		if r.Task.Speculative {
			specRunning++
		}
		if i > 0 {
			prev := st.Running[i-1]
			same := prev.Task.Stage == r.Task.Stage && prev.Task.Partition == r.Task.Partition
			if same && (prev.Worker == r.Worker || i > 1 && st.Running[i-2].Task.Stage == r.Task.Stage && st.Running[i-2].Task.Partition == r.Task.Partition) {
				h.fatalf("partition %d of stage %d runs more than two attempts, or two on %s", r.Task.Partition, r.Task.Stage, r.Worker)
			}
		}
	}
	c := st.Counters
	if c.SpeculativeLaunched != h.backups || c.SpeculativeLaunched != c.SpeculativeWon+c.SpeculativeWasted+specRunning {
		h.fatalf("counters %+v with %d backups launched and %d running", c, h.backups, specRunning)
	}
	for _, w := range st.Workers {
		if w.Excluded != (w.ExcludedUntil > st.Now) || w.Excluded && h.cfg.NoExclusion {
			h.fatalf("worker %s excluded=%v until %v at %v", w.ID, w.Excluded, w.ExcludedUntil, st.Now)
		}
	}
	var jobs []JobID
	for _, j := range st.Jobs {
		jobs = append(jobs, j.ID)
	}
	if want := slices.Sorted(maps.Keys(h.active)); !slices.Equal(jobs, want) {
		h.fatalf("status jobs %v, model %v", jobs, want)
	}
}

// runningList is the running attempts in a deterministic order.
func (h *harness) runningList() []RunningTask {
	var rs []RunningTask
	for t, w := range h.running {
		rs = append(rs, RunningTask{Task: t, Worker: w})
	}
	slices.SortFunc(rs, func(a, b RunningTask) int {
		return cmp.Or(cmp.Compare(a.Task.Stage, b.Task.Stage), cmp.Compare(a.Task.Partition, b.Task.Partition),
			cmp.Compare(a.Task.Attempt, b.Task.Attempt), cmp.Compare(a.Task.Job, b.Task.Job))
	})
	return rs
}
