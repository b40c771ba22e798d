package scheduler

// freeIndex finds the worker with the most free slots without scanning
// every worker: placing each task by a scan made a pass over a thousand
// workers cost a thousand map look-ups per launch (the simulator's
// 1000-node runs spent 70% of their time there).
//
// It is a segment tree over the live workers in ID order (Scheduler.order).
// A leaf holds the free slots of its worker if an ordinary task may run
// there (not reserved, not draining, not excluded), else -1; an inner node
// holds the largest of its leaves. The leftmost leaf holding the root's
// value is what mostFree(order, …) picks for an ordinary task: the most
// free slots, ties going to the lowest ID. Pinned stages look at the
// reserved workers only; a filter that allows excluded workers, which is
// rare, scans them all (Scheduler.mostFreeAll).
//
// A worker joining or leaving shifts the leaves, so it only marks the index
// invalid; the next query rebuilds it, in O(workers). Other changes update
// one leaf in O(log workers).
type freeIndex struct {
	valid bool  // the leaves are the live workers (no join or loss since)
	size  int   // leaves: a power of two, at least the live workers
	tree  []int // tree[1] is the root; leaf i is tree[size+i]
}

// crossCheck makes the shortcuts check themselves against the plain way,
// and panic if they differ: every indexed look-up against a scan of the
// workers, every stage's scan cursor (stage.scan) against its partitions,
// the reserved workers' free slots against a count, the stages a pass
// deactivates against all stages.
// The scheduler's tests turn it on; it is off otherwise, as it costs what
// the shortcuts save.
var crossCheck = false

// leafValue is what w's leaf holds.
func leafValue(w *worker) int {
	if w.reserved || w.draining || w.excluded {
		return -1
	}
	return w.freeSlots()
}

// rebuild lays the live workers out in ID order.
func (x *freeIndex) rebuild(s *Scheduler) {
	size := 1
	for size < len(s.order) {
		size *= 2
	}
	x.size = size
	x.tree = x.tree[:0]
	x.tree = append(x.tree, make([]int, 2*size)...)
	for i := range x.tree[size:] {
		x.tree[size+i] = -1
	}
	for i, id := range s.order {
		w := s.workers[id]
		w.leaf = i
		x.tree[size+i] = leafValue(w)
	}
	for i := size - 1; i >= 1; i-- {
		x.tree[i] = max(x.tree[2*i], x.tree[2*i+1])
	}
	x.valid = true
}

// set gives leaf i the value v.
func (x *freeIndex) set(i, v int) {
	i += x.size
	x.tree[i] = v
	for i > 1 {
		i /= 2
		m := max(x.tree[2*i], x.tree[2*i+1])
		if x.tree[i] == m {
			return
		}
		x.tree[i] = m
	}
}

// update records a change of w's free slots or eligibility.
func (x *freeIndex) update(w *worker) {
	if x.valid {
		x.set(w.leaf, leafValue(w))
	}
}

// best returns the leaf with the most free slots, the leftmost of equals,
// or -1 if no eligible worker has a free slot.
func (x *freeIndex) best() int {
	if len(x.tree) < 2 || x.tree[1] <= 0 {
		return -1
	}
	top, i := x.tree[1], 1
	for i < x.size {
		if i *= 2; x.tree[i] != top {
			i++
		}
	}
	return i - x.size
}

// mostFreeAll returns the live worker that f allows with the most free
// slots, ties going to the lowest ID, or nil if none has a free slot: what
// mostFree(s.order, f) returns, from the index when f is the ordinary
// filter.
func (s *Scheduler) mostFreeAll(f filter) *worker {
	var best *worker
	switch {
	case f.pinned: // only reserved workers are allowed
		best, _ = s.mostFree(s.reserved, f)
	case f.excluded && s.excluded > 0:
		best, _ = s.mostFree(s.order, f)
	default:
		best = s.indexed(f.skip)
	}
	if crossCheck {
		want, _ := s.mostFree(s.order, f)
		invariant(best == want, "free-slot index picked %v, a scan %v", idOf(best), idOf(want))
		free := 0
		for _, id := range s.reserved {
			free += s.workers[id].freeSlots()
		}
		invariant(free == s.reservedFree, "reserved workers have %d free slots, counted %d", free, s.reservedFree)
	}
	return best
}

// indexed returns the eligible worker with the most free slots, ties going
// to the lowest ID, but for the skipped ones; nil if none has a free slot.
func (s *Scheduler) indexed(skip [2]WorkerID) *worker {
	x := &s.index
	if !x.valid {
		x.rebuild(s)
	}
	// Hide the skipped workers while looking.
	var hidden [2]*worker
	for i, id := range skip {
		if w := s.workers[id]; id != "" && w != nil && x.tree[x.size+w.leaf] >= 0 {
			hidden[i] = w
			x.set(w.leaf, -1)
		}
	}
	var best *worker
	if i := x.best(); i >= 0 {
		best = s.workers[s.order[i]]
	}
	for _, w := range hidden {
		if w != nil {
			x.update(w)
		}
	}
	return best
}

func idOf(w *worker) WorkerID {
	if w == nil {
		return "<none>"
	}
	return w.id
}
