package scheduler

import (
	"math"
	"slices"
	"time"
)

// Speculative execution. After the scheduling pass has given free slots to
// pending tasks, speculate gives what is left to backup copies of
// stragglers: attempts that have run much longer than the finished
// partitions of their stage (see Config.SpeculationQuantile). It runs at
// the end of every Step, so on every Tick (stragglers appear as time
// passes) and after every finish (the median and the share of finished
// partitions change then).

// speculate launches backup copies of stragglers in the stages scheduled
// by the last pass, in the pass's order (jobs by ID, then their stages),
// partitions in order, while slots are free.
func (s *Scheduler) speculate() {
	if s.cfg.NoSpeculation {
		return
	}
	for _, v := range s.visits {
		if s.free == 0 {
			return
		}
		if limit, ok := s.stragglerLimit(v.st); ok {
			s.speculateStage(v.j, v.st, limit)
		}
	}
}

// stragglerLimit returns how long an attempt of st must have run to be a
// straggler: more than SpeculationMultiplier times the median duration of
// the finished partitions, and at least SpeculationMinDuration. ok is false
// while too few partitions have finished, or when no attempt can have run
// that long yet.
func (s *Scheduler) stragglerLimit(st *stage) (limit time.Duration, ok bool) {
	if st.running == 0 || len(st.took) == 0 || len(st.took) < s.finishedNeeded(st.numTasks) {
		return 0, false
	}
	limit = scale(st.median(), s.cfg.SpeculationMultiplier) + 1 // more than the multiple
	limit = max(limit, s.cfg.SpeculationMinDuration)
	return limit, s.now >= limit // attempts start at time 0 or later
}

// finishedNeeded is how many partitions of a stage of n must have finished
// before it speculates: SpeculationQuantile of n, rounded up, at least 1.
// The epsilon keeps 0.7×10 from rounding up to 8.
func (s *Scheduler) finishedNeeded(n int) int {
	need := int(math.Ceil(s.cfg.SpeculationQuantile*float64(n) - 1e-9))
	return max(need, 1)
}

// scale returns d×m, saturated at the largest Duration.
func scale(d time.Duration, m float64) time.Duration {
	f := float64(d) * m
	if f >= math.MaxInt64 {
		return math.MaxInt64 - 1 // stragglerLimit adds 1
	}
	return time.Duration(f)
}

func (s *Scheduler) speculateStage(j *job, st *stage, limit time.Duration) {
	for p := range st.parts {
		pt := &st.parts[p]
		if pt.nrun != 1 || pt.run.backedUp || s.now-pt.run.startedAt < limit {
			continue
		}
		if w := s.placeBackup(st, p); w != nil {
			s.launchBackup(j, st, p, w)
			if s.free == 0 {
				return
			}
		}
	}
}

// placeBackup picks the worker for a backup copy of the running attempt of
// partition p of st, or nil: a live worker other than the attempt's, never
// an excluded one (a backup is optional), of the right kind for a pinned
// stage, with a free slot; a preferred one if it can, else the one with the
// most free slots, ties going to the lowest ID. No locality wait: by now
// the partition is late.
func (s *Scheduler) placeBackup(st *stage, p int) *worker {
	pt := &st.parts[p]
	f := filter{pinned: st.pinned, skip: [2]WorkerID{pt.run.worker, pt.avoid}}
	if st.prefer != nil && len(st.prefer[p]) > 0 {
		if w, _ := s.mostFree(st.prefer[p], f); w != nil {
			return w
		}
	}
	return s.mostFreeAll(f)
}

func (s *Scheduler) launchBackup(j *job, st *stage, p int, w *worker) {
	pt := &st.parts[p]
	orig := &pt.run
	invariant(pt.nrun == 1 && !pt.done && !orig.backedUp, "backup of stage %d partition %d with %d attempts running", st.id, p, pt.nrun)
	invariant(w.id != orig.worker && !w.excluded, "backup of stage %d partition %d on worker %s", st.id, p, w.id)
	invariant(w.running < w.slots && s.free > 0, "launch on worker %s with no free slot", w.id)
	orig.backedUp = true
	t := Task{Job: j.id, Stage: st.id, Partition: p, Attempt: pt.next, Epoch: s.cfg.Epoch, Speculative: true}
	pt.next++
	pt.backup = &attempt{task: t, worker: w.id, gen: st.gen, launchedAt: s.step, startedAt: s.now}
	pt.nrun = 2
	s.occupy(w)
	s.counters.SpeculativeLaunched++
	s.emit(Launch{Task: t, Worker: w.id})
}

// addTook records that the new output of pt was produced by an attempt
// that ran for d. An output that is replaced was lost first (dropTook).
func (st *stage) addTook(pt *part, d time.Duration) {
	invariant(!pt.timed, "stage %d times an output twice", st.id)
	// Insert after equal durations: no copying when they are all equal.
	i, _ := slices.BinarySearchFunc(st.took, d, func(e, d time.Duration) int {
		if e <= d {
			return -1
		}
		return 1
	})
	st.took = slices.Insert(st.took, i, d)
	pt.timed, pt.took = true, d
}

// dropTook forgets the duration of pt's output, which is lost or replaced.
func (st *stage) dropTook(pt *part) {
	i, found := slices.BinarySearch(st.took, pt.took)
	invariant(pt.timed && found, "stage %d forgets a duration it does not have", st.id)
	st.took = slices.Delete(st.took, i, i+1)
	pt.timed, pt.took = false, 0
}

// median is the median of st.took (not empty): the middle one, or the
// mean of the two middle ones.
func (st *stage) median() time.Duration {
	n := len(st.took)
	lo, hi := st.took[(n-1)/2], st.took[n/2]
	return lo + (hi-lo)/2
}
