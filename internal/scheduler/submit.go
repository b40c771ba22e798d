package scheduler

import (
	"fmt"
	"slices"
)

// submit validates a job, then adds it. A shuffle-map stage whose ID an
// active job already lists is shared: the new job takes the existing
// stage's state (outputs, running attempts, failure counts) and its
// Available and Prefer are ignored, the scheduler's own view being newer.
func (s *Scheduler) submit(jb Job) error {
	if s.jobs[jb.ID] != nil {
		return fmt.Errorf("%w: job %d is already active", ErrInvalidEvent, jb.ID)
	}
	if err := s.validate(jb, nil); err != nil {
		return err
	}
	j := &job{id: jb.ID, stages: make([]*stage, 0, len(jb.Stages))}
	for _, sd := range jb.Stages {
		st := s.stages[sd.ID]
		if st == nil {
			st = s.newStage(sd)
			s.stages[sd.ID] = st
		}
		st.jobs++
		j.stages = append(j.stages, st)
	}
	res := j.stages[len(j.stages)-1]
	res.owner = j
	s.jobs[j.id] = j
	i, _ := slices.BinarySearch(s.queue, j.id)
	s.queue = slices.Insert(s.queue, i, j.id)
	if res.complete() { // a result stage with no partitions
		s.endJob(j, true, "")
	}
	return nil
}

func (s *Scheduler) newStage(sd Stage) *stage {
	st := &stage{
		id:       sd.ID,
		numTasks: sd.NumTasks,
		result:   sd.Result,
		parts:    make([]part, sd.NumTasks),
		pinned:   sd.Pinned,
	}
	for _, id := range sd.Parents {
		par := s.stages[id]
		st.parents = append(st.parents, par)
		par.children = append(par.children, st)
	}
	if sd.Prefer != nil {
		st.prefer = make([][]WorkerID, len(sd.Prefer))
		for p, ws := range sd.Prefer {
			st.prefer[p] = slices.Clone(ws)
		}
	}
	for p, w := range sd.Available {
		// An output on a worker that is not live is as good as lost.
		if w != "" && s.workers[w] != nil {
			st.parts[p] = part{done: true, loc: w, producedAt: s.step}
			st.done++
		}
	}
	return st
}

// validate checks a submitted job, or the new plan of job old (ReplanJob),
// whose result stage may keep its ID.
func (s *Scheduler) validate(jb Job, old *job) error {
	if n := len(jb.Stages); n == 0 || n > MaxStagesPerJob {
		return fmt.Errorf("%w: job %d has %d stages (want 1 to %d)", ErrInvalidEvent, jb.ID, n, MaxStagesPerJob)
	}
	seen := make(map[StageID]bool, len(jb.Stages))
	for i, sd := range jb.Stages {
		if msg := s.checkStage(sd, i == len(jb.Stages)-1, seen, old); msg != "" {
			return fmt.Errorf("%w: job %d: stage %d: %s", ErrInvalidEvent, jb.ID, sd.ID, msg)
		}
		seen[sd.ID] = true
	}
	return nil
}

// checkStage says what is wrong with a stage of a submitted job, or "".
// seen holds the IDs of the job's earlier stages; old is the job a new
// plan replaces, if any.
func (s *Scheduler) checkStage(sd Stage, last bool, seen map[StageID]bool, old *job) string {
	n := sd.NumTasks
	switch {
	case seen[sd.ID]:
		return "listed twice"
	case last && !sd.Result:
		return "the last stage must be the result stage"
	case !last && sd.Result:
		return "only the last stage can be the result stage"
	case n < 0 || n > MaxTasksPerStage:
		return fmt.Sprintf("%d tasks (want 0 to %d)", n, MaxTasksPerStage)
	case sd.Available != nil && len(sd.Available) != n:
		return fmt.Sprintf("%d available entries for %d tasks", len(sd.Available), n)
	case sd.Prefer != nil && len(sd.Prefer) != n:
		return fmt.Sprintf("%d prefer entries for %d tasks", len(sd.Prefer), n)
	case sd.Result && slices.ContainsFunc(sd.Available, func(w WorkerID) bool { return w != "" }):
		return "a result stage has no shuffle output to be available"
	}
	for i, p := range sd.Parents {
		if !seen[p] {
			return fmt.Sprintf("unknown parent stage %d (parents must be earlier stages of the job)", p)
		}
		if slices.Contains(sd.Parents[:i], p) {
			return fmt.Sprintf("parent stage %d listed twice", p)
		}
	}
	if old != nil && last {
		res := old.stages[len(old.stages)-1]
		if sd.ID != res.id || sd.NumTasks != res.numTasks {
			return fmt.Sprintf("a new plan must keep the result stage (s%d, %d tasks)", res.id, res.numTasks)
		}
		return ""
	}
	return s.checkShared(sd)
}

// checkShared checks a stage against the active stage with the same ID, if
// any: only shuffle-map stages are shared, and they must agree.
func (s *Scheduler) checkShared(sd Stage) string {
	st := s.stages[sd.ID]
	switch {
	case st == nil:
		return ""
	case st.result || sd.Result:
		return "ID already used by an active job, and result stages are not shared"
	case st.numTasks != sd.NumTasks:
		return fmt.Sprintf("%d tasks but the active stage with this ID has %d", sd.NumTasks, st.numTasks)
	}
	same := len(st.parents) == len(sd.Parents)
	for i := 0; same && i < len(sd.Parents); i++ {
		same = st.parents[i].id == sd.Parents[i]
	}
	if !same {
		return "parents differ from the active stage with this ID"
	}
	return ""
}

// replan gives an active job a new plan (see ReplanJob). The result stage
// object is kept, with its partitions' state; it gets the new parents.
func (s *Scheduler) replan(ev ReplanJob) error {
	old := s.jobs[ev.Job.ID]
	if old == nil {
		return nil // stale: the job ended meanwhile
	}
	if err := s.validate(ev.Job, old); err != nil {
		return err
	}
	if r := ev.Retry; r != nil {
		if st, pt, i := s.attemptOf(r.Task, r.Worker); st != nil {
			s.release(st, pt, i, false)
		}
	}
	res := old.stages[len(old.stages)-1]
	j := &job{id: old.id, stages: make([]*stage, 0, len(ev.Job.Stages))}
	for _, sd := range ev.Job.Stages[:len(ev.Job.Stages)-1] {
		st := s.stages[sd.ID]
		if st == nil {
			st = s.newStage(sd)
			s.stages[sd.ID] = st
		}
		st.jobs++
		j.stages = append(j.stages, st)
	}
	s.relink(res, ev.Job.Stages[len(ev.Job.Stages)-1])
	res.jobs++
	res.owner = j
	j.stages = append(j.stages, res)
	s.jobs[j.id] = j
	for _, st := range old.stages {
		st.jobs--
		if st.jobs == 0 {
			s.dropStage(st)
		}
	}
	return nil
}

// relink gives a kept result stage the parents, preferences and placement
// of its new plan sd. Its running attempts read the old parents' outputs,
// which were current: gen moves on so that their fetch failures, if any,
// are not counted against the stage.
func (s *Scheduler) relink(res *stage, sd Stage) {
	for _, par := range res.parents {
		par.children = slices.DeleteFunc(par.children, func(c *stage) bool { return c == res })
	}
	res.parents = res.parents[:0]
	for _, id := range sd.Parents {
		par := s.stages[id]
		res.parents = append(res.parents, par)
		par.children = append(par.children, res)
	}
	res.prefer = nil
	if sd.Prefer != nil {
		res.prefer = make([][]WorkerID, len(sd.Prefer))
		for p, ws := range sd.Prefer {
			res.prefer[p] = slices.Clone(ws)
		}
	}
	res.pinned = sd.Pinned
	res.gen++
}
