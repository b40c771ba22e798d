package scheduler

// Worker exclusion. A worker that keeps failing tasks or straggling is
// excluded for Config.ExcludeFor: it gets no new task while a worker that
// is not excluded could run it, and no backup copy at all. Its running
// attempts go on, and exclusion never stops a task from running when
// every worker that could run it is excluded.

// strike records a task failure or a straggle on worker id at the current
// time, and excludes the worker when it has ExcludeAfter strikes within
// ExcludeFor. A strike while excluded can extend the exclusion. The
// strikes that excluded a worker are forgotten, so that it is not excluded
// again at its next strike after its readmission.
func (s *Scheduler) strike(id WorkerID) {
	w := s.workers[id]
	if w == nil || w.draining || s.cfg.NoExclusion { // a draining worker takes no more tasks anyway
		return
	}
	old := 0
	for old < len(w.strikes) && s.now-w.strikes[old] >= s.cfg.ExcludeFor {
		old++
	}
	w.strikes = append(w.strikes[:0], w.strikes[old:]...)
	w.strikes = append(w.strikes, s.now)
	if len(w.strikes) < s.cfg.ExcludeAfter {
		return
	}
	w.strikes = w.strikes[:0]
	if !w.excluded {
		w.excluded = true
		s.index.update(w)
		s.excluded++
		s.counters.Exclusions++
	}
	w.until = s.now + s.cfg.ExcludeFor
}

// readmit ends the exclusions whose time is up (at a Tick at or after it).
func (s *Scheduler) readmit() {
	if s.excluded == 0 {
		return
	}
	for _, id := range s.order {
		if w := s.workers[id]; w.excluded && s.now >= w.until {
			w.excluded, w.until = false, 0
			s.index.update(w)
			s.excluded--
		}
	}
}

// anyIncluded says whether a live worker that is not excluded, other than
// skip, could run a task of a pinned (or not pinned) stage: if not, tasks
// may run on excluded workers rather than not at all.
func (s *Scheduler) anyIncluded(pinned bool, skip WorkerID) bool {
	if s.excluded == 0 {
		return true
	}
	for _, id := range s.order {
		if w := s.workers[id]; w.reserved == pinned && id != skip && !w.excluded && !w.draining {
			return true
		}
	}
	return false
}
