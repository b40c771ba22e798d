package sluice_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// tally is an UpdateStateByKey state that records how it was updated, so
// that the output shows every call of the update function: the sum of the
// values, the number of calls without values, and whether the state
// existed at the last call.
type tally struct {
	Sum, Idle int
	Existed   bool
}

func (s tally) String() string { return fmt.Sprintf("{%d %d %v}", s.Sum, s.Idle, s.Existed) }

type ts = sluice.KV[string, tally]

func tl(k string, sum, idle int, existed bool) ts {
	return sluice.Pair(k, tally{Sum: sum, Idle: idle, Existed: existed})
}

// updateTally adds the values and counts calls without values; a key that
// got no values for maxIdle calls in a row is removed.
func updateTally(maxIdle int) func(string, []int, tally, bool) (tally, bool) {
	return func(_ string, vs []int, st tally, exists bool) (tally, bool) {
		if len(vs) == 0 {
			st.Idle++
		} else {
			st.Idle = 0
		}
		for _, v := range vs {
			st.Sum += v
		}
		st.Existed = exists
		return st, st.Idle < maxIdle
	}
}

func TestUpdateStateByKey(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2,
		[]kv{p("a", 1), p("b", 2), p("a", 3)},
		nil,
		[]kv{p("b", 1)},
		[]kv{p("c", 5)},
		nil,
		[]kv{p("a", 1)})
	state := sluicetest.Collect(sluice.UpdateStateByKey(in, updateTally(100), sluice.Named("tally")))
	h.Run(6)
	// Every key in state is updated at every batch, with no values when
	// it got none.
	assertSorted(t, state.Batches(), batches(
		[]ts{tl("a", 4, 0, false), tl("b", 2, 0, false)},
		[]ts{tl("a", 4, 1, true), tl("b", 2, 1, true)},
		[]ts{tl("a", 4, 2, true), tl("b", 3, 0, true)},
		[]ts{tl("a", 4, 3, true), tl("b", 3, 1, true), tl("c", 5, 0, false)},
		[]ts{tl("a", 4, 4, true), tl("b", 3, 2, true), tl("c", 5, 1, true)},
		[]ts{tl("a", 5, 0, true), tl("b", 3, 3, true), tl("c", 5, 2, true)},
	))
	assertTimes(t, h, state, 1, 2, 3, 4, 5, 6)
}

func TestUpdateStateByKeyRemovesKeys(t *testing.T) {
	// Returning keep == false removes the key; values that come later
	// start a new state (exists == false).
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3,
		[]kv{p("a", 1), p("b", 1)},
		[]kv{p("b", 1)},
		nil,
		nil,
		[]kv{p("a", 7)},
		nil)
	state := sluicetest.Collect(sluice.UpdateStateByKey(in, updateTally(2), sluice.Named("tally"), sluice.Partitions(4)))
	h.Run(6)
	assertSorted(t, state.Batches(), batches(
		[]ts{tl("a", 1, 0, false), tl("b", 1, 0, false)},
		[]ts{tl("a", 1, 1, true), tl("b", 2, 0, true)},
		[]ts{tl("b", 2, 1, true)}, // a idle twice: removed
		nil,                       // b too
		[]ts{tl("a", 7, 0, false)},
		[]ts{tl("a", 7, 1, true)},
	))
}

func TestUpdateStateByKeyInitialState(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	initial := sluice.Parallelize(h.Context, []ts{tl("a", 10, 0, false), tl("z", 5, 0, false)}, 3)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2)}, nil, []kv{p("z", 1)})
	state := sluicetest.Collect(sluice.UpdateStateByKey(in, updateTally(3), sluice.Named("tally"), sluice.InitialState(initial)))
	h.Run(4)
	// Keys of the initial state exist from the first batch, with or
	// without values.
	assertSorted(t, state.Batches(), batches(
		[]ts{tl("a", 11, 0, true), tl("b", 2, 0, false), tl("z", 5, 1, true)},
		[]ts{tl("a", 11, 1, true), tl("b", 2, 1, true), tl("z", 5, 2, true)},
		[]ts{tl("a", 11, 2, true), tl("b", 2, 2, true), tl("z", 6, 0, true)},
		[]ts{tl("z", 6, 1, true)},
	))
}

func TestUpdateStateByKeyLongRun(t *testing.T) {
	// Past several state checkpoints (every 3 batches here), the state
	// is the running total: a key per batch number modulo 3, and "all".
	const n = 20
	var in [][]kv
	for i := 1; i <= n; i++ {
		in = append(in, []kv{p(fmt.Sprint(i%3), i), p("all", 1)})
	}
	h := sluicetest.New(t, time.Second)
	s := sluicetest.Input(h, 2, in...)
	sum := func(_ string, vs []int, st int, _ bool) (int, bool) {
		for _, v := range vs {
			st += v
		}
		return st, true
	}
	state := sluicetest.Collect(sluice.UpdateStateByKey(s, sum, sluice.Named("sum"), sluice.CheckpointInterval(3*sec)))
	h.Run(n)
	got := state.Batches()
	for b := 1; b <= n; b++ {
		want := map[string]int{"all": b}
		for i := 1; i <= b; i++ {
			want[fmt.Sprint(i%3)] += i
		}
		var w []kv
		for k, v := range want {
			w = append(w, p(k, v))
		}
		assertSorted(t, got[b-1:b], [][]kv{w})
	}
}

// mapped is what the MapWithState function of these tests emits.
type mapped struct {
	At    int64 // batch time in seconds
	Key   string
	What  string
	State int
}

func (m mapped) String() string { return fmt.Sprintf("%d:%s:%s:%d", m.At, m.Key, m.What, m.State) }

// sumState keeps a running sum per key: a value adds to it, 0 touches the
// key without updating it, -1 removes it. It emits what it did; a timeout
// emits the last state.
func sumState(t time.Time, key string, v sluice.Optional[int], st *sluice.State[int]) (mapped, bool) {
	at := t.Unix()
	old, _ := st.Get()
	switch {
	case st.IsTimingOut():
		if v.Valid || !st.Exists() {
			panic("a timing out state must exist and come with no value")
		}
		return mapped{at, key, "timeout", old}, true
	case !v.Valid:
		panic("a value is missing")
	case v.Value == -1:
		st.Remove()
		return mapped{at, key, "removed", old}, true
	case v.Value == 0:
		return mapped{}, false // touched only
	default:
		st.Update(old + v.Value)
		return mapped{at, key, "set", old + v.Value}, true
	}
}

func TestMapWithState(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2,
		[]kv{p("a", 1), p("b", 2), p("a", 3)},
		nil,
		[]kv{p("b", -1), p("c", 0)},
		[]kv{p("a", 5), p("b", 4)},
		[]kv{p("a", -1), p("a", 2)})
	out, snaps := sluice.MapWithState(in, sumState, sluice.Named("sums"))
	got := sluicetest.Collect(out)
	snapshots := sluicetest.Collect(snaps)
	h.Run(5)
	if n := sluice.StatePlacements(h.Context); n != 0 {
		t.Errorf("the state was placed again by key %d times: each batch's state is placed as the next expects", n)
	}
	// Only the keys of the batch are touched and emit; records of a key
	// are handled in order (batch 5: a is removed, then set anew).
	assertSorted(t, got.Batches(), batches(
		[]mapped{{1, "a", "set", 1}, {1, "a", "set", 4}, {1, "b", "set", 2}},
		nil,
		[]mapped{{3, "b", "removed", 2}},
		[]mapped{{4, "a", "set", 9}, {4, "b", "set", 4}},
		[]mapped{{5, "a", "removed", 9}, {5, "a", "set", 2}},
	))
	assertSorted(t, snapshots.Batches(), batches(
		[]kv{p("a", 4), p("b", 2)},
		[]kv{p("a", 4), p("b", 2)},
		[]kv{p("a", 4)}, // c was touched but never set: no state
		[]kv{p("a", 9), p("b", 4)},
		[]kv{p("a", 2), p("b", 4)},
	))
}

func TestMapWithStateTimeout(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2,
		[]kv{p("a", 1), p("b", 1)},
		[]kv{p("b", 1)},
		nil,
		nil,
		[]kv{p("a", 1), p("c", 3)},
		[]kv{p("c", 0)}, // touching c without an update refreshes its time
		nil,
		nil,
		nil)
	// Timeouts are detected at checkpoint batches: every batch here.
	out, snaps := sluice.MapWithState(in, sumState, sluice.Named("sums"),
		sluice.Timeout(2*sec), sluice.CheckpointInterval(sec))
	got := sluicetest.Collect(out)
	snapshots := sluicetest.Collect(snaps)
	h.Run(9)
	// A key times out at the first batch t whose time minus the timeout
	// is after the key's last record (as in Spark): a, last seen at 1,
	// times out at 4.
	assertSorted(t, got.Batches(), batches(
		[]mapped{{1, "a", "set", 1}, {1, "b", "set", 1}},
		[]mapped{{2, "b", "set", 2}},
		nil,
		[]mapped{{4, "a", "timeout", 1}},
		[]mapped{{5, "a", "set", 1}, {5, "b", "timeout", 2}, {5, "c", "set", 3}},
		nil,
		nil,
		[]mapped{{8, "a", "timeout", 1}},
		[]mapped{{9, "c", "timeout", 3}},
	))
	assertSorted(t, snapshots.Batches(), batches(
		[]kv{p("a", 1), p("b", 1)},
		[]kv{p("a", 1), p("b", 2)},
		[]kv{p("a", 1), p("b", 2)},
		[]kv{p("b", 2)},
		[]kv{p("a", 1), p("c", 3)},
		[]kv{p("a", 1), p("c", 3)},
		[]kv{p("a", 1), p("c", 3)},
		[]kv{p("c", 3)},
		nil,
	))
}

func TestMapWithStateTimeoutAtCheckpoints(t *testing.T) {
	// With the default checkpoint interval (10s here), keys time out only
	// at batch 10, 20, …; with CheckpointInterval(3s), at 3, 6, ….
	var in [][]kv
	in = append(in, []kv{p("a", 1)}, []kv{p("b", 1)})
	for len(in) < 11 {
		in = append(in, nil)
	}
	h := sluicetest.New(t, time.Second)
	s := sluicetest.Input(h, 2, in...)
	def, _ := sluice.MapWithState(s, sumState, sluice.Named("default"), sluice.Timeout(sec))
	every3, _ := sluice.MapWithState(s, sumState, sluice.Named("every3"), sluice.Timeout(sec), sluice.CheckpointInterval(3*sec))
	gotDef := sluicetest.Collect(def)
	got3 := sluicetest.Collect(every3)
	h.Run(len(in))
	set := func(at int64, k string) []mapped { return []mapped{{at, k, "set", 1}} }
	timeout := func(at int64, ks ...string) []mapped {
		var out []mapped
		for _, k := range ks {
			out = append(out, mapped{at, k, "timeout", 1})
		}
		return out
	}
	assertSorted(t, gotDef.Batches(), batches(set(1, "a"), set(2, "b"), nil, nil, nil, nil, nil, nil, nil,
		timeout(10, "a", "b"), nil))
	// At 3, a (last seen at 1 < 3−1) times out but b (at 2) does not yet.
	assertSorted(t, got3.Batches(), batches(set(1, "a"), set(2, "b"), timeout(3, "a"), nil, nil,
		timeout(6, "b"), nil, nil, nil, nil, nil))
}

func TestMapWithStateInitialState(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	initial := sluice.Parallelize(h.Context, []kv{p("a", 10), p("z", 5)}, 1)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2)}, nil, []kv{p("z", 1)}, nil, nil)
	out, snaps := sluice.MapWithState(in, sumState, sluice.Named("sums"), sluice.InitialState(initial),
		sluice.Timeout(2*sec), sluice.CheckpointInterval(sec), sluice.Partitions(3))
	got := sluicetest.Collect(out)
	snapshots := sluicetest.Collect(snaps)
	h.Run(5)
	// Initial keys count as updated at the first batch for timeouts.
	assertSorted(t, got.Batches(), batches(
		[]mapped{{1, "a", "set", 11}, {1, "b", "set", 2}},
		nil,
		[]mapped{{3, "z", "set", 6}},
		[]mapped{{4, "a", "timeout", 11}, {4, "b", "timeout", 2}},
		nil,
	))
	assertSorted(t, snapshots.Batches(), batches(
		[]kv{p("a", 11), p("b", 2), p("z", 5)},
		[]kv{p("a", 11), p("b", 2), p("z", 5)},
		[]kv{p("a", 11), p("b", 2), p("z", 6)},
		[]kv{p("z", 6)},
		[]kv{p("z", 6)},
	))
}

func TestMapWithStateLongRun(t *testing.T) {
	// Past many batches the state chains deltas and compacts them; the
	// snapshot stays the running sum.
	const n = 40
	var in [][]kv
	for i := 1; i <= n; i++ {
		in = append(in, []kv{p(fmt.Sprint(i%5), 1), p("all", i)})
	}
	h := sluicetest.New(t, time.Second)
	s := sluicetest.Input(h, 3, in...)
	_, snaps := sluice.MapWithState(s, sumState, sluice.Named("sums"))
	snapshots := sluicetest.Collect(snaps)
	h.Run(n)
	for b, got := range snapshots.Batches() {
		want := map[string]int{"all": (b + 1) * (b + 2) / 2}
		for i := 1; i <= b+1; i++ {
			want[fmt.Sprint(i%5)]++
		}
		var w []kv
		for k, v := range want {
			w = append(w, p(k, v))
		}
		assertSorted(t, [][]kv{got}, [][]kv{w})
	}
}
