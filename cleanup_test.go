package sluice_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestLongRunHoldsBoundedState runs windows and state for many batches and
// checks that datasets, blocks and shuffle outputs stop growing: batches
// older than every window and state need are forgotten and freed, and
// state lineage is cut at checkpoint batches.
func TestLongRunHoldsBoundedState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 400 batches")
	}
	h := sluicetest.New(t, time.Second, sluice.Master("local[2]"))
	var input [][]sluice.KV[string, int]
	for i := 0; i < 400; i++ {
		input = append(input, kvs("a", i%3, "b", 1, string(rune('c'+i%20)), 2))
	}
	in := sluicetest.Input(h, 2, input...)
	total := func(_ string, vs []int, s int, _ bool) (int, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}
	sluicetest.Collect(sluice.UpdateStateByKey(in, total, sluice.Named("totals")))
	sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, sub, 5*time.Second, time.Second, sluice.Named("w")))
	sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, nil, 7*time.Second, 2*time.Second))
	mapped, _ := sluice.MapWithState(in, func(_ time.Time, k string, v sluice.Optional[int], st *sluice.State[int]) (int, bool) {
		n, _ := st.Get()
		if st.IsTimingOut() {
			return n, true
		}
		st.Update(n + v.Value)
		return n, true
	}, sluice.Named("m"), sluice.Timeout(3*time.Second))
	sluicetest.Collect(mapped)

	type counts [5]int
	sample := func() counts {
		d, c, s, wb, wo := sluice.EngineCounts(h.Context)
		return counts{d, c, s, wb, wo}
	}
	// On a cluster the driver keeps the map outputs that state since its
	// last cut was computed from (for recovery), and a cut comes when a
	// checkpoint write ends: what is held depends on where in the
	// checkpoint interval (10 batches) a sample falls. The most held over
	// one whole interval is what must not grow.
	most := func() counts {
		var m counts
		for range 10 {
			h.Run(1)
			for i, v := range sample() {
				m[i] = max(m[i], v)
			}
		}
		return m
	}
	h.Run(90)
	at100 := most()
	h.Run(290)
	at400 := most()
	for i, name := range []string{"datasets", "cached blocks", "shuffles", "worker blocks", "worker map outputs"} {
		if at400[i] > at100[i]+at100[i]/5+10 {
			t.Errorf("%s grew from %d (batches 91–100) to %d (batches 391–400)", name, at100[i], at400[i])
		}
	}
	t.Logf("most over batches 91–100: %v; over 391–400: %v", at100, at400)
}
