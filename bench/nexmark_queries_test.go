package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestNexmarkQ3LateMatches checks that q3's correctness test input has
// what makes the join incremental: auctions that arrive in a batch before
// their seller and match in a later one.
func TestNexmarkQ3LateMatches(t *testing.T) {
	w := Workloads["nexmark-q3"]
	x := newNxInput(Input{Seed: 7, Rate: w.TestRate, Batch: w.TestBatch, Zero: sluicetest.Epoch})
	arrived := make(map[int64]int64) // auction id → its batch
	state := make(map[int64]nxQ3State)
	var late, matches int
	for k := range int64(w.TestBatches) {
		evs, _ := x.batch(k)
		var res []nxQ3Result
		for _, e := range evs {
			if !nxQ3Keep(e) {
				continue
			}
			kv := nxQ3SideOf(e)
			if kv.Value.Auction != 0 {
				arrived[kv.Value.Auction] = k
			}
			state[kv.Key], res = nxQ3Apply(state[kv.Key], kv.Value, res)
		}
		for _, r := range res {
			if arrived[r.Auction] < k {
				late++
			}
		}
		matches += len(res)
	}
	t.Logf("%d matches, %d of them with an auction from an earlier batch", matches, late)
	if late == 0 {
		t.Errorf("no match of q3's test input has an auction from an earlier batch")
	}
}

// TestNexmarkQ3Join checks q3's join on a script: auctions before and
// after their seller, in the same batch (in either order) or in later
// ones, and sellers that never come.
func TestNexmarkQ3Join(t *testing.T) {
	person := func(id int64, name string) sluice.KV[int64, nxQ3Side] {
		return sluice.Pair(id, nxQ3Side{Name: name, City: "Boise", State: "ID"})
	}
	auction := func(seller, id int64) sluice.KV[int64, nxQ3Side] {
		return sluice.Pair(seller, nxQ3Side{Auction: id})
	}
	batches := [][]sluice.KV[int64, nxQ3Side]{
		{auction(1, 100), person(2, "Kate"), auction(2, 101), auction(3, 102)},
		{auction(1, 103), auction(2, 104), auction(9, 105)},
		{person(1, "Luke"), auction(3, 106)},
		{auction(3, 107), person(3, "Saul"), auction(1, 108)},
		{auction(2, 109), auction(1, 110)},
	}
	want := [][]string{
		{"Kate,Boise,ID,101"},
		{"Kate,Boise,ID,104"},
		{"Luke,Boise,ID,100", "Luke,Boise,ID,103"},
		{"Luke,Boise,ID,108", "Saul,Boise,ID,102", "Saul,Boise,ID,106", "Saul,Boise,ID,107"},
		{"Kate,Boise,ID,109", "Luke,Boise,ID,110"},
	}
	h := sluicetest.New(t, time.Second, sluice.Master("local[3]"))
	got := sluicetest.Collect(sluice.Map(nxQ3Join(sluicetest.Input(h, 2, batches...)), formatQ3))
	h.Run(len(batches))
	bs := got.Batches()
	if len(bs) != len(want) {
		t.Fatalf("%d batches of output, want %d", len(bs), len(want))
	}
	for i, b := range bs {
		slices.Sort(b)
		if !slices.Equal(b, want[i]) {
			t.Errorf("batch %d: %q, want %q", i+1, b, want[i])
		}
	}
}
