package scheduler

// schedule is the scheduling pass that ends every Step. It visits active
// jobs by ascending ID and their stages in the job's order, and launches
// the pending partitions of every stage that is needed and runnable, in
// partition order, while slots are free. A shared stage is scheduled on
// behalf of the first job that needs it; its tasks carry that job's ID.
// Then the slots still free go to backup copies of stragglers (speculate):
// pending tasks of every job come first.
func (s *Scheduler) schedule() {
	s.pass++
	// The stages visited by the last pass are the only ones active.
	s.visits, s.lastVisits = s.lastVisits, s.visits
	clear(s.visits)
	s.visits = s.visits[:0]
	for _, id := range s.queue {
		j := s.jobs[id]
		mark := s.markNeeded(j)
		for _, st := range j.stages {
			if st.needMark != mark || st.visited == s.pass || !st.runnable() {
				continue
			}
			st.visited = s.pass
			st.active = true
			s.visits = append(s.visits, visit{j: j, st: st})
			s.scheduleStage(j, st)
		}
	}
	s.speculate()
	// Stages that stopped being needed or runnable restart their locality
	// clocks when they come back. (A stage is active only if the last
	// pass visited it: no need to look at every stage.)
	for _, v := range s.lastVisits {
		if st := v.st; st.active && st.visited != s.pass {
			st.active = false
			for p := range st.parts {
				st.parts[p].waiting = false
			}
		}
	}
	if crossCheck {
		for _, st := range s.stages {
			invariant(!st.active || st.visited == s.pass, "stage %d active but not visited", st.id)
		}
	}
}

// markNeeded marks the stages of j that must run for j to finish: its
// result stage unless complete, and every parent of a marked stage that is
// not complete. A complete stage's parents are not needed even when some of
// their outputs are missing, so only missing work that matters is redone.
func (s *Scheduler) markNeeded(j *job) uint64 {
	s.mark++
	res := j.stages[len(j.stages)-1]
	res.needMark = s.mark
	for i := len(j.stages) - 1; i >= 0; i-- { // children before parents
		st := j.stages[i]
		if st.needMark != s.mark || st.complete() {
			continue
		}
		for _, par := range st.parents {
			par.needMark = s.mark
		}
	}
	return s.mark
}

func (s *Scheduler) scheduleStage(j *job, st *stage) {
	if st.done+st.running == st.numTasks {
		return // nothing pending
	}
	if crossCheck {
		for p := range st.scan {
			invariant(st.parts[p].done || st.parts[p].running(), "stage %d partition %d pending below the scan cursor %d", st.id, p, st.scan)
		}
	}
	s.placePreferred(j, st)
	clocked := s.cfg.LocalityWait > 0
	for p := st.scan; p < len(st.parts); p++ {
		pt := &st.parts[p]
		if pt.done || pt.running() {
			if p == st.scan {
				st.scan++
			}
			continue
		}
		if clocked && !pt.waiting {
			pt.waiting, pt.waitFrom = true, s.now
		}
		if s.freeFor(st.pinned) == 0 { // place would find no worker
			if !clocked {
				return
			}
			continue // keep starting locality clocks
		}
		if w := s.place(st, p); w != nil {
			s.launch(j, st, p, w)
			if p == st.scan {
				st.scan++
			}
		}
	}
}

// placePreferred launches, in partition order, the pending partitions of st
// that have a preferred live worker with a free slot, there. It runs before
// the other partitions are placed, so that a partition that could run
// anywhere (one whose cached input was lost with a worker) does not take
// the slot of a worker holding another partition's input, which would then
// run elsewhere and read that input over the network.
func (s *Scheduler) placePreferred(j *job, st *stage) {
	if st.prefer == nil {
		return
	}
	for p := st.scan; p < len(st.parts); p++ {
		if s.freeFor(st.pinned) == 0 {
			return
		}
		pt := &st.parts[p]
		if pt.done || pt.running() || len(st.prefer[p]) == 0 {
			continue
		}
		f := filter{pinned: st.pinned, skip: [2]WorkerID{pt.avoid}}
		f.excluded = !s.anyIncluded(st.pinned, pt.avoid)
		if w, _ := s.mostFree(st.prefer[p], f); w != nil {
			s.launch(j, st, p, w)
		}
	}
}

// place picks the worker for pending partition p of st, or nil to leave it
// pending. A preferred live worker with a free slot wins (the one with most
// free slots, then the lowest ID). Failing that, a partition with a live
// preferred worker waits up to LocalityWait since it became pending.
// Otherwise the live worker with the most free slots (then the lowest ID)
// takes it, which spreads tasks, and so recovery, over all workers.
//
// A map partition whose output was lost because a fetch found its worker
// unreachable (part.avoid) does not go back there while another worker
// that can run it is live: it waits for a slot on one of them instead.
// A draining worker takes no task at all, and a preferred one that drains
// is no reason to wait. Likewise a task does not go to an excluded worker while a worker that is
// not excluded (and not avoided) could run it; preferred workers that are
// excluded are then no preference.
func (s *Scheduler) place(st *stage, p int) *worker {
	f := filter{pinned: st.pinned, skip: [2]WorkerID{st.parts[p].avoid}, excluded: true}
	if f.skip[0] != "" {
		if _, others := s.mostFree(s.order, f); !others {
			f.skip[0] = "" // the only worker that can run it: better than none
		}
	}
	f.excluded = !s.anyIncluded(st.pinned, f.skip[0])
	if st.prefer != nil && len(st.prefer[p]) > 0 {
		w, live := s.mostFree(st.prefer[p], f)
		if w != nil {
			return w
		}
		if live && s.now-st.parts[p].waitFrom < s.cfg.LocalityWait {
			return nil
		}
	}
	return s.mostFreeAll(f)
}

// filter says which live workers may take a task.
type filter struct {
	pinned   bool        // reserved workers only (else only the others)
	skip     [2]WorkerID // workers not to use ("" for none)
	excluded bool        // whether excluded workers may be used
}

func (f *filter) allows(w *worker) bool {
	return w.reserved == f.pinned && !w.draining && w.id != f.skip[0] && w.id != f.skip[1] && (f.excluded || !w.excluded)
}

// mostFree returns the live worker among ids that f allows with the most
// free slots, ties going to the lowest ID, or nil if none has a free slot;
// and whether f allows any live worker of ids. It scans all of ids: a later
// optimisation could keep workers in a heap by free slots.
func (s *Scheduler) mostFree(ids []WorkerID, f filter) (best *worker, live bool) {
	for _, id := range ids {
		w := s.workers[id]
		if w == nil || !f.allows(w) {
			continue
		}
		live = true
		f := w.freeSlots()
		if f == 0 {
			continue
		}
		if best == nil || f > best.freeSlots() || f == best.freeSlots() && w.id < best.id {
			best = w
		}
	}
	return best, live
}

func (s *Scheduler) launch(j *job, st *stage, p int, w *worker) {
	pt := &st.parts[p]
	invariant(!pt.done && !pt.running(), "launch of stage %d partition %d that is done or running", st.id, p)
	invariant(w.running < w.slots && s.free > 0, "launch on worker %s with no free slot", w.id)
	t := Task{Job: j.id, Stage: st.id, Partition: p, Attempt: pt.next, Epoch: s.cfg.Epoch}
	pt.next++
	pt.run = attempt{task: t, worker: w.id, gen: st.gen, launchedAt: s.step, startedAt: s.now}
	pt.nrun = 1
	pt.waiting = false
	s.occupy(w)
	st.running++
	s.emit(Launch{Task: t, Worker: w.id})
}
