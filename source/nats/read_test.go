package nats_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
	natssrc "github.com/sluicehq/sluice/source/nats"
)

// TestDeletedAndFilteredSequencesAreGaps reads ranges with deleted
// messages, subjects the filter leaves out, and nothing at all at their
// end, which must not make a task wait for messages that will never come.
func TestDeletedAndFilteredSequencesAreGaps(t *testing.T) {
	url, js := newStream(t, "S", "a.*")
	for i := range 10 { // sequence i+1: a.x if i is even, a.y if odd
		publish(t, js, map[bool]string{true: "a.x", false: "a.y"}[i%2 == 0], msgs(i, i+1)...)
	}
	st, err := js.Stream(bg, "S")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{3, 9, 10} {
		if err := st.DeleteMsg(bg, seq); err != nil {
			t.Fatal(err)
		}
	}
	all := natssrc.New(url, "S", natssrc.Text)
	xs := natssrc.New(url, "S", natssrc.Text, natssrc.Filter("a.x"))
	defer all.Close()
	defer xs.Close()
	for _, tc := range []struct {
		src  *natssrc.Source[string]
		plan natssrc.Plan
		part int
		want []string
	}{
		{all, natssrc.Plan{From: 1, To: 11, Parts: 1}, 0, []string{"m0", "m1", "m3", "m4", "m5", "m6", "m7"}},
		{xs, natssrc.Plan{From: 1, To: 11, Parts: 2}, 0, []string{"m0", "m4"}},
		{xs, natssrc.Plan{From: 1, To: 11, Parts: 2}, 1, []string{"m6"}},
		{all, natssrc.Plan{From: 9, To: 11, Parts: 1}, 0, nil},                 // all deleted, nothing after
		{xs, natssrc.Plan{From: 8, To: 10, Parts: 1}, 0, nil},                  // a.y and a deleted a.x
		{all, natssrc.Plan{From: 4, To: 6, Parts: 1}, 0, []string{"m3", "m4"}}, // stops at the range's end
	} {
		got, bad, err := tc.src.Read(bg, tc.plan, tc.part)
		if err != nil || len(bad) > 0 || !slices.Equal(got, tc.want) {
			t.Errorf("Read(%+v, %d) = %q, %v, %v; want %q", tc.plan, tc.part, got, bad, err, tc.want)
		}
	}
	publish(t, js, "a.x", "m10") // sequence 11: past the range, which ends before it
	if got, _, err := all.Read(bg, natssrc.Plan{From: 9, To: 11, Parts: 1}, 0); err != nil || len(got) > 0 {
		t.Errorf("Read(9-10) = %q, %v; want nothing", got, err)
	}
	names := st.ConsumerNames(bg)
	var left []string
	for n := range names.Name() {
		left = append(left, n)
	}
	if len(left) > 0 {
		t.Errorf("consumers %v left after the reads", left)
	}
}

func TestStartPositions(t *testing.T) {
	url, js := newStream(t, "S", "s.>")
	publish(t, js, "s.a", "m0", "m1")
	time.Sleep(5 * time.Millisecond) // store times differ between the two halves
	between := time.Now()
	time.Sleep(5 * time.Millisecond)
	publish(t, js, "s.a", "m2", "m3", "m4")
	st, err := js.Stream(bg, "S")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(bg, 1); err != nil {
		t.Fatal(err)
	}
	req := sluice.PlanRequest[natssrc.Plan]{Batch: time.Now(), Limit: -1}
	for _, tc := range []struct {
		name string
		opt  natssrc.Option
		from uint64
	}{
		{"first", natssrc.StartFirst(), 2}, // 1 was deleted
		{"new", natssrc.StartNew(), 6},
		{"sequence", natssrc.StartSequence(4), 4},
		{"time", natssrc.StartTime(between), 3},
	} {
		src := natssrc.New(url, "S", natssrc.Text, tc.opt, natssrc.PerPart(2, 2))
		p, err := src.Plan(bg, req)
		src.Close()
		want := natssrc.Plan{From: tc.from, To: 6, Parts: min(2, int(6-tc.from+1)/2)} // PerPart(2, 2)
		if err != nil || p != want {
			t.Errorf("%s: Plan = %+v, %v; want %+v", tc.name, p, err, want)
		}
	}
}

func TestCountIsPlanLength(t *testing.T) {
	src := natssrc.New("nats://unused", "S", natssrc.Text)
	if n := src.Count(natssrc.Plan{From: 10, To: 25, Parts: 2}); n != 15 {
		t.Errorf("Count = %d, want 15", n)
	}
	if n := src.Parts(natssrc.Plan{From: 10, To: 10, Parts: 2}); n != 0 {
		t.Errorf("Parts of an empty plan = %d, want 0", n)
	}
}

func TestInvalidOptionsFailPlanning(t *testing.T) {
	for _, o := range []natssrc.Option{natssrc.StartSequence(0), natssrc.Partitions(0), natssrc.PerPart(0, 3),
		natssrc.MaxPerBatch(0), natssrc.FetchSize(-1), natssrc.Filter(""), natssrc.CommitTo("")} {
		src := natssrc.New("nats://127.0.0.1:1", "S", natssrc.Text, o)
		if _, err := src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Limit: -1}); err == nil {
			t.Errorf("an invalid option planned")
		}
	}
}

// TestReadOnLocalCluster reads a stream on three worker processes, which
// connect to the test's server through urlEnv.
func TestReadOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	url, js := newStream(t, "EVENTS", "events.>")
	if js != nil {
		publish(t, js, "events.a", msgs(0, 30)...)
	}
	h := sluicetest.New(t, time.Second, sluice.Master("local-cluster[3]"),
		sluice.WorkerArgs("-test.run=^TestReadOnLocalCluster$"), sluice.WorkerKey(t.Name()))
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.PerPart(4, 8))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events")))
	h.Run(1)
	publish(t, js, "events.a", msgs(30, 35)...)
	h.Run(1)
	if got, want := out.Batches(), [][]string{msgs(0, 30), msgs(30, 35)}; !equalBatches(got, want) {
		t.Errorf("batches %q, want %q", got, want)
	}
}

func TestRecreatedStreamFailsPlanning(t *testing.T) {
	url, js := newStream(t, "S", "s.>")
	publish(t, js, "s.a", "m0")
	src := natssrc.New(url, "S", natssrc.Text)
	defer src.Close()
	prev := natssrc.Plan{From: 1, To: 50, Parts: 1} // as if the stream had held 49 messages
	_, err := src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Prev: prev, HasPrev: true, Limit: -1})
	if err == nil || !strings.Contains(err.Error(), "ends at sequence 1, before where the previous batch ended (49)") {
		t.Errorf("Plan after the stream went back: %v, want an error", err)
	}
}
