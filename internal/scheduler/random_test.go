package scheduler

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var (
	seedFlag  = flag.Int64("seed", -1, "run TestRandomized with this seed only")
	seedsFlag = flag.Int("seeds", 300, "how many seeds TestRandomized runs")
)

// TestRandomized runs random workloads and failure schedules from seeds,
// checking the scheduler against the harness's model after every step;
// then it feeds finishes until every job has ended. Each seed runs twice
// and the two traces must be identical: the scheduler is deterministic.
func TestRandomized(t *testing.T) {
	seeds := []int64{*seedFlag}
	if *seedFlag < 0 {
		n := *seedsFlag
		if testing.Short() {
			n = min(n, 50)
		}
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, int64(i))
		}
	}
	for _, seed := range seeds {
		first := runSeed(t, seed)
		if again := runSeed(t, seed); again != first {
			t.Fatalf("seed %d: two runs of the same seed differ", seed)
		}
	}
}

func runSeed(t *testing.T, seed int64) string {
	c := randChooser{rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
	h := newHarness(t, c, fmt.Sprintf("seed %d (rerun: go test -run TestRandomized -seed %d)", seed, seed))
	for range 200 {
		h.randomStep()
	}
	h.drain()
	return h.trace.String()
}

// TestProperty is the same check with rapid choosing the steps: a failure
// shrinks to a short sequence of events.
func TestProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(rt, rapidChooser{rt}, "rapid")
		for range rapid.IntRange(0, 120).Draw(rt, "steps") {
			h.randomStep()
		}
		h.drain()
	})
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int, _ string) int { return c.r.IntN(n) }

type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }

func (h *harness) randomStep() {
	h.t.Helper()
	switch op := h.c.intn(21, "op"); {
	case op < 2:
		h.join()
	case op == 20:
		h.drainWorker()
	case op < 3:
		h.lose()
	case op < 6:
		h.submit()
	case op < 12:
		h.finish()
	case op < 14:
		h.fail()
	case op < 15:
		h.fetchFail()
	case op < 17:
		d := time.Duration(h.c.intn(40, "tick")) * time.Millisecond
		if h.c.intn(8, "long-tick") == 0 {
			d *= 10 // stragglers, ends of exclusions
		}
		h.mustStep(Tick{Now: h.s.Status().Now + d})
	case op < 18:
		if h.c.intn(2, "cancel-or-replan") == 0 {
			h.cancel()
		} else {
			h.replan()
		}
	case op < 19:
		h.stale()
	default:
		h.invalid()
	}
}

func (h *harness) mustStep(ev Event) {
	h.t.Helper()
	if _, err := h.step(ev); err != nil {
		h.fatalf("valid event %#v rejected: %v", ev, err)
	}
}

func (h *harness) join() {
	if len(h.live) >= 5 {
		return
	}
	i := h.c.intn(len(h.everSeen)+1, "rejoin")
	var id WorkerID
	if i < len(h.everSeen) && h.live[h.everSeen[i]] == 0 {
		id = h.everSeen[i] // a lost worker rejoins under its old ID
	} else {
		id = WorkerID(fmt.Sprintf("w%d", len(h.everSeen)+1))
		h.everSeen = append(h.everSeen, id)
	}
	h.live[id] = 1 + h.c.intn(3, "slots")
	h.mustStep(WorkerJoined{Worker: id, Slots: h.live[id]})
}

func (h *harness) lose() {
	ids := h.liveIDs()
	if len(ids) == 0 {
		return
	}
	h.loseWorker(ids[h.c.intn(len(ids), "lose")])
}

// loseWorker removes live worker id.
func (h *harness) loseWorker(id WorkerID) {
	delete(h.live, id)
	delete(h.draining, id)
	for _, r := range h.runningList() { // in order: endAttempt keeps a list
		if r.Worker == id {
			h.endAttempt(r.Task)
		}
	}
	for _, outs := range h.outputs {
		for p, w := range outs {
			if w == id {
				delete(outs, p)
			}
		}
	}
	h.mustStep(WorkerLost{Worker: id})
}

// drainWorker drains a live worker (or, now and then, one that is not
// live or already draining: stale, ignored).
func (h *harness) drainWorker() {
	ids := append(h.liveIDs(), "w99")
	id := ids[h.c.intn(len(ids), "drain")]
	if h.live[id] > 0 {
		h.draining[id] = true
	}
	h.mustStep(DrainWorker{Worker: id})
}

func (h *harness) liveIDs() []WorkerID {
	var ids []WorkerID
	for _, id := range h.everSeen {
		if h.live[id] > 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

func (h *harness) submit() {
	if len(h.active) >= 4 {
		return
	}
	jb := h.randomJob(h.nextJob)
	h.nextJob++
	for _, st := range jb.Stages {
		if h.listed(st.ID) {
			continue // shared: the scheduler ignores this job's Available
		}
		h.outputs[st.ID] = map[int]WorkerID{}
		for p, w := range st.Available {
			if h.live[w] > 0 {
				h.outputs[st.ID][p] = w
			}
		}
		h.stageDefs[st.ID] = st
	}
	h.active[jb.ID] = jb
	h.delivered[jb.ID] = map[int]bool{}
	h.mustStep(SubmitJob{Job: jb})
}

// replan gives a random active job a new plan with the same result stage
// (ReplanJob), usually releasing one of its running attempts as the retry.
func (h *harness) replan() {
	ids := h.activeJobs()
	if len(ids) == 0 {
		return
	}
	id := ids[h.c.intn(len(ids), "replan")]
	old := h.active[id]
	jb := h.randomJob(id)
	res := &jb.Stages[len(jb.Stages)-1]
	res.NumTasks = old.Stages[len(old.Stages)-1].NumTasks
	res.Prefer = h.randomPrefer(res.NumTasks)
	ev := ReplanJob{Job: jb}
	if r, ok := h.pickRunning(); ok && r.Task.Job == id && h.c.intn(4, "retry") > 0 {
		h.endAttempt(r.Task)
		ev.Retry = &r
	}
	for _, st := range jb.Stages[:len(jb.Stages)-1] {
		if h.listed(st.ID) {
			continue // shared: its state is the scheduler's
		}
		h.outputs[st.ID] = map[int]WorkerID{}
		for p, w := range st.Available {
			if h.live[w] > 0 {
				h.outputs[st.ID][p] = w
			}
		}
		h.stageDefs[st.ID] = st
	}
	h.stageDefs[res.ID] = *res
	h.active[id] = jb
	h.mustStep(ev)
	for st := range h.outputs { // stages only the old plan listed are gone
		if !h.listed(st) {
			delete(h.outputs, st)
		}
	}
}

// randomJob draws map stages from universe (closed under parents) and adds
// a result stage whose parents are some of them.
func (h *harness) randomJob(id JobID) Job {
	var stages []Stage
	for _, u := range universe {
		usable := !slices.ContainsFunc(u.Parents, func(p StageID) bool {
			return !slices.ContainsFunc(stages, func(s Stage) bool { return s.ID == p })
		})
		if !usable || h.c.intn(2, "use-stage") == 0 {
			continue
		}
		st := u
		st.Parents = slices.Clone(u.Parents)
		st.Available = h.randomAvailable(u.NumTasks)
		st.Prefer = h.randomPrefer(u.NumTasks)
		stages = append(stages, st)
	}
	res := Stage{ID: resultStageBase + StageID(id), NumTasks: h.c.intn(5, "result-tasks"), Result: true}
	for _, st := range stages {
		if h.c.intn(3, "parent") > 0 {
			res.Parents = append(res.Parents, st.ID)
		}
	}
	res.Prefer = h.randomPrefer(res.NumTasks)
	return Job{ID: id, Stages: append(stages, res)}
}

func (h *harness) randomWorker() WorkerID {
	i := h.c.intn(len(h.everSeen)+1, "worker")
	if i == len(h.everSeen) {
		return "w-none" // never live
	}
	return h.everSeen[i]
}

func (h *harness) randomAvailable(n int) []WorkerID {
	if h.c.intn(3, "available") > 0 {
		return nil
	}
	av := make([]WorkerID, n)
	for p := range av {
		if h.c.intn(2, "available-p") == 0 {
			av[p] = h.randomWorker()
		}
	}
	return av
}

func (h *harness) randomPrefer(n int) [][]WorkerID {
	if h.c.intn(3, "prefer") > 0 {
		return nil
	}
	pr := make([][]WorkerID, n)
	for p := range pr {
		for range h.c.intn(3, "prefer-n") {
			pr[p] = append(pr[p], h.randomWorker())
		}
	}
	return pr
}

// pickRunning returns a random running attempt, if any.
func (h *harness) pickRunning() (RunningTask, bool) {
	rs := h.runningList()
	if len(rs) == 0 {
		return RunningTask{}, false
	}
	return rs[h.c.intn(len(rs), "running")], true
}

// finish finishes a random running attempt; those of slow workers are
// picked less often, so that they straggle and get backups.
func (h *harness) finish() {
	r, ok := h.pickRunning()
	if !ok {
		return
	}
	if slowWorker(r.Worker) && h.c.intn(4, "slow") > 0 {
		var fast []RunningTask
		for _, o := range h.runningList() {
			if !slowWorker(o.Worker) {
				fast = append(fast, o)
			}
		}
		if len(fast) == 0 {
			return
		}
		r = fast[h.c.intn(len(fast), "fast")]
	}
	h.finishTask(r)
}

// slowWorker says whether the harness finishes w's tasks late.
func slowWorker(w WorkerID) bool { return w == "w2" || w == "w5" }

func (h *harness) finishTask(r RunningTask) {
	t := r.Task
	if def := h.stageDefs[t.Stage]; def.Result {
		res := h.delivered[JobID(t.Stage-resultStageBase)]
		if res[t.Partition] {
			h.fatalf("partition %d of result stage %d finished twice", t.Partition, t.Stage)
		}
		res[t.Partition] = true
	} else {
		h.outputs[t.Stage][t.Partition] = r.Worker
	}
	h.endAttempt(t)
	h.mustStep(TaskFinished{Task: t, Worker: r.Worker})
}

func (h *harness) fail() {
	if r, ok := h.pickRunning(); ok {
		h.endAttempt(r.Task)
		h.mustStep(TaskFailed{Task: r.Task, Worker: r.Worker, Reason: "boom"})
	}
}

// fetchFail reports a running task of a stage with parents as unable to
// read a parent output: usually where the model has it, sometimes a
// random worker.
func (h *harness) fetchFail() {
	r, ok := h.pickRunning()
	parents := h.stageDefs[r.Task.Stage].Parents
	if !ok || len(parents) == 0 {
		return
	}
	par := parents[h.c.intn(len(parents), "fetch-parent")]
	p := h.c.intn(h.stageDefs[par].NumTasks, "fetch-partition")
	w, known := h.outputs[par][p]
	if !known || h.c.intn(4, "fetch-random") == 0 {
		w = h.randomWorker()
	}
	h.endAttempt(r.Task)
	f := &FetchFailure{Stage: par, Partition: p, Worker: w, Unreachable: h.c.intn(2, "fetch-unreachable") == 0}
	h.mustStep(TaskFailed{Task: r.Task, Worker: r.Worker, Reason: "fetch", Fetch: f})
}

func (h *harness) cancel() {
	ids := h.activeJobs()
	if len(ids) > 0 {
		h.mustStep(CancelJob{Job: ids[h.c.intn(len(ids), "cancel")], Reason: "test"})
	}
}

func (h *harness) activeJobs() []JobID {
	var ids []JobID
	for id := range h.active {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// stale reports a running attempt wrongly (another attempt, epoch, worker,
// job or partition): it must change nothing and produce no action.
func (h *harness) stale() {
	r, ok := h.pickRunning()
	t, w := r.Task, r.Worker
	if n := len(h.gone); n > 0 && (!ok || h.c.intn(3, "stale-gone") == 0) {
		// An attempt that ended (finished, failed, cancelled: the loser
		// of a speculative race, lost with its worker) reports as it was.
		g := h.gone[h.c.intn(n, "gone")]
		t, w, ok = g.Task, g.Worker, true
	} else if ok {
		switch h.c.intn(6, "stale") {
		case 0:
			t.Attempt++
		case 1:
			t.Epoch++
		case 2:
			w += "-other"
		case 3:
			t.Job += 1000
		case 4:
			t.Partition += 100
		default:
			t.Speculative = !t.Speculative
		}
	}
	if !ok {
		return
	}
	before := h.s.Status()
	var ev Event = TaskFinished{Task: t, Worker: w}
	if h.c.intn(2, "stale-kind") == 0 {
		ev = TaskFailed{Task: t, Worker: w, Reason: "stale"}
	}
	acts, err := h.step(ev)
	if err != nil || len(acts) > 0 || !reflect.DeepEqual(before, h.s.Status()) {
		h.fatalf("stale report %s changed something: err %v, actions %v", formatEvent(ev), err, acts)
	}
}

// invalid submits an invalid job: it must be rejected.
func (h *harness) invalid() {
	jb := Job{ID: h.nextJob, Stages: []Stage{{ID: 999, NumTasks: -1, Result: true}}}
	if ids := h.activeJobs(); len(ids) > 0 {
		jb = Job{ID: ids[0], Stages: []Stage{{ID: 998, NumTasks: 1, Result: true}}}
	}
	if _, err := h.step(SubmitJob{Job: jb}); err == nil {
		h.fatalf("invalid job %+v accepted", jb)
	}
}

// drain stops failures and feeds finishes until every job has ended.
func (h *harness) drain() {
	h.t.Helper()
	// Drained workers leave; a worker that takes tasks must remain.
	for _, id := range h.liveIDs() {
		if h.draining[id] {
			h.loseWorker(id)
		}
	}
	if len(h.live) == 0 {
		h.join()
	}
	for i := 0; len(h.active) > 0; i++ {
		if i > 10000 {
			h.fatalf("jobs %v never end", h.activeJobs())
		}
		if rs := h.runningList(); len(rs) > 0 {
			h.finishTask(rs[0])
			continue
		}
		// Nothing runs: only a locality wait may hold tasks back.
		h.mustStep(Tick{Now: h.s.Status().Now + h.cfg.LocalityWait + time.Millisecond})
		if len(h.running) == 0 && len(h.active) > 0 {
			h.fatalf("jobs %v are active but nothing runs", h.activeJobs())
		}
	}
	if h.ended != int(h.nextJob-1) {
		h.fatalf("%d jobs submitted, %d ended", h.nextJob-1, h.ended)
	}
}
