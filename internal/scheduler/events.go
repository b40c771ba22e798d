package scheduler

import (
	"fmt"
	"slices"
)

func (s *Scheduler) workerJoined(ev WorkerJoined) error {
	switch {
	case ev.Worker == "":
		return fmt.Errorf("%w: worker with an empty ID", ErrInvalidEvent)
	case ev.Slots < 1 || ev.Slots > MaxSlotsPerWorker:
		return fmt.Errorf("%w: worker %s has %d slots (want 1 to %d)", ErrInvalidEvent, ev.Worker, ev.Slots, MaxSlotsPerWorker)
	case s.workers[ev.Worker] != nil:
		return fmt.Errorf("%w: worker %s is already live", ErrInvalidEvent, ev.Worker)
	}
	s.workers[ev.Worker] = &worker{id: ev.Worker, slots: ev.Slots, reserved: ev.Reserved}
	i, _ := slices.BinarySearch(s.order, ev.Worker)
	s.order = slices.Insert(s.order, i, ev.Worker)
	s.index.valid = false
	s.free += ev.Slots
	if ev.Reserved {
		i, _ := slices.BinarySearch(s.reserved, ev.Worker)
		s.reserved = slices.Insert(s.reserved, i, ev.Worker)
		s.reservedFree += ev.Slots
	}
	return nil
}

// workerLost forgets a worker. Its running attempts end without counting
// as failures: a partition whose other copy runs elsewhere goes on with
// it, the others go back to pending (they are relaunched with new attempt
// numbers). Every map output it held is marked missing; the scheduling
// pass reruns the ones a stage still needs. Running tasks of child stages
// are left alone: if they fetch from the lost worker they report fetch
// failures. A loss of an unknown worker is stale and ignored. Its
// exclusion, if any, is forgotten with it.
func (s *Scheduler) workerLost(ev WorkerLost) {
	w := s.workers[ev.Worker]
	if w == nil {
		return
	}
	// Map order does not matter below: releasing attempts and losing
	// outputs commute, and no action is emitted here.
	for _, st := range s.stages {
		for p := range st.parts {
			pt := &st.parts[p]
			for i := pt.nrun - 1; i >= 0; i-- {
				if pt.at(i).worker == w.id {
					s.release(st, pt, i, false)
				}
			}
		}
	}
	invariant(w.running == 0, "worker %s lost with %d attempts unaccounted for", w.id, w.running)
	if w.excluded {
		s.excluded--
	}
	delete(s.workers, w.id)
	i, _ := slices.BinarySearch(s.order, w.id)
	s.order = slices.Delete(s.order, i, i+1)
	s.index.valid = false
	s.free -= w.slots
	invariant(s.free >= 0, "free slots below zero after losing worker %s", w.id)
	if w.reserved {
		i, _ := slices.BinarySearch(s.reserved, w.id)
		s.reserved = slices.Delete(s.reserved, i, i+1)
		s.reservedFree -= w.slots
	}
	for _, st := range s.stages {
		if st.result {
			continue // delivered results are not lost with the worker
		}
		for p := range st.parts {
			pt := &st.parts[p]
			if pt.done && pt.loc == w.id {
				s.lose(st, p)
			}
			if pt.avoid == w.id {
				pt.avoid = "" // a worker that rejoins under this ID is a fresh one
			}
		}
	}
}

// drainWorker marks a live worker as leaving: filter.allows refuses it
// from now on, for pending tasks and backup copies alike. Its running
// attempts and map outputs are left alone.
func (s *Scheduler) drainWorker(ev DrainWorker) {
	w := s.workers[ev.Worker]
	if w == nil || w.draining {
		return
	}
	w.draining = true
	if w.excluded { // exclusion counts only workers that could take tasks
		w.excluded, w.until = false, 0
		s.excluded--
	}
	s.index.update(w)
}

// cancelJob abandons an active job. Cancelling a job that is not active
// (already done, failed or never submitted) is a race the runtime cannot
// avoid, so it is ignored.
func (s *Scheduler) cancelJob(ev CancelJob) {
	j := s.jobs[ev.Job]
	if j == nil {
		return
	}
	reason := ev.Reason
	if reason == "" {
		reason = "cancelled"
	}
	s.endJob(j, false, reason)
}

// attemptOf returns the running attempt that t names on worker w (its
// stage, partition and index for part.at), or a nil stage when the report
// is stale: another attempt or epoch, an unknown stage, a partition not
// running, an attempt that ended (the loser of a speculative race), or a
// worker other than the one it was launched on. t.Job is compared too,
// but a shared stage's attempt keeps running for the other jobs after the
// job that launched it ended, so its report is still accepted under that
// job's ID.
func (s *Scheduler) attemptOf(t Task, w WorkerID) (*stage, *part, int) {
	st := s.stages[t.Stage]
	if st == nil || t.Partition < 0 || t.Partition >= st.numTasks {
		return nil, nil, 0
	}
	pt := &st.parts[t.Partition]
	for i := range pt.nrun {
		if run := pt.at(i); run.task == t && run.worker == w {
			return st, pt, i
		}
	}
	return nil, nil, 0
}

// taskFinished takes the first result of a partition. If the other copy of
// a speculative pair still runs, it is cancelled: it lost. A backup that
// beats the attempt it backed up is a straggle of that attempt's worker.
func (s *Scheduler) taskFinished(ev TaskFinished) {
	st, pt, i := s.attemptOf(ev.Task, ev.Worker)
	if st == nil {
		return
	}
	run := s.release(st, pt, i, true)
	if pt.running() {
		loser := s.release(st, pt, 0, false)
		s.emit(Cancel{Task: loser.task, Worker: loser.worker})
		if loser.backedUp {
			s.strike(loser.worker)
		}
	}
	pt.done = true
	st.done++
	if !s.cfg.NoSpeculation { // took serves speculation only, and costs a sorted insert
		st.addTook(pt, s.now-run.startedAt)
	}
	if !st.result {
		pt.loc = ev.Worker
		pt.avoid = ""
		pt.producedAt = s.step
		return
	}
	if st.complete() {
		s.endJob(st.owner, true, "")
	}
}

// taskFailed ends a failed attempt. The partition runs again once no copy
// of it runs: if the other copy of a speculative pair still runs, it goes
// on alone. Every failure but a fetch failure is a strike on the worker.
func (s *Scheduler) taskFailed(ev TaskFailed) {
	st, pt, i := s.attemptOf(ev.Task, ev.Worker)
	if st == nil {
		return
	}
	run := s.release(st, pt, i, false)
	if ev.Fetch == nil {
		s.strike(ev.Worker)
	}
	reason := ev.Reason
	if f := ev.Fetch; f != nil {
		why := s.badFetch(st, run, f)
		if why == "" {
			s.fetchFailed(st, run, f, reason)
			return
		}
		// A bug in the runtime or the worker. Counting it as a plain
		// failure keeps the partition bounded by MaxTaskFailures instead
		// of stuck, or relaunched without end.
		reason = fmt.Sprintf("%s (fetch failure %s)", reason, why)
	}
	pt.failures++
	if pt.failures >= s.cfg.MaxTaskFailures {
		s.failStage(st, fmt.Sprintf("partition %d of stage %d failed %d times: %s", run.task.Partition, st.id, pt.failures, reason))
	}
}

// badFetch says why a fetch failure reported by attempt run of st cannot be
// right, or returns "". It must name a parent output of st; and if that
// output was produced no later than the launch, the attempt was told where
// it is, so it must name that worker. A report of another worker there is
// not stale but wrong: ignoring it and relaunching the partition, which
// would be told the same location, could repeat forever.
func (s *Scheduler) badFetch(st *stage, run attempt, f *FetchFailure) string {
	par := s.stages[f.Stage]
	if par == nil || !slices.Contains(st.parents, par) || f.Partition < 0 || f.Partition >= par.numTasks {
		return fmt.Sprintf("names stage %d partition %d, not a parent output", f.Stage, f.Partition)
	}
	if ppt := &par.parts[f.Partition]; ppt.done && ppt.producedAt <= run.launchedAt && ppt.loc != f.Worker {
		return fmt.Sprintf("names stage %d partition %d on worker %q, but it was on %s when the attempt was launched", f.Stage, f.Partition, f.Worker, ppt.loc)
	}
	return ""
}

// fetchFailed handles a failed attempt of st that could not read map output
// f (see badFetch). The attempt is already released: the partition reruns
// once the stage is runnable again. The output is marked missing only if the
// attempt saw it (it was produced no later than the launch) and it is still
// recorded on f.Worker; otherwise it was already lost or replaced. If
// f.Worker was unreachable, so are its other outputs: they are all lost.
func (s *Scheduler) fetchFailed(st *stage, run attempt, f *FetchFailure, reason string) {
	par := s.stages[f.Stage]
	ppt := &par.parts[f.Partition]
	if !ppt.done || ppt.loc != f.Worker || ppt.producedAt > run.launchedAt {
		return
	}
	counted := run.gen == st.gen
	if f.Unreachable {
		s.loseUnreachable(f.Worker, run.launchedAt)
	} else {
		s.lose(par, f.Partition)
	}
	if !counted {
		return
	}
	st.fetchFailures++
	if st.fetchFailures >= s.cfg.MaxStageAttempts {
		s.failStage(st, fmt.Sprintf("stage %d failed %d times fetching shuffle output: %s", st.id, st.fetchFailures, reason))
	}
}

// loseUnreachable marks missing every map output on worker w produced no
// later than step before (those a task launched then could have been told
// about; a newer one may come from a worker that is reachable again), and
// makes their reruns avoid w. Map order does not matter: losses commute
// and no action is emitted here.
func (s *Scheduler) loseUnreachable(w WorkerID, before uint64) {
	for _, st := range s.stages {
		if st.result {
			continue
		}
		for p := range st.parts {
			if pt := &st.parts[p]; pt.done && pt.loc == w && pt.producedAt <= before {
				s.lose(st, p)
				pt.avoid = w
			}
		}
	}
}
