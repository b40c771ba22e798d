package nats_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
	natssrc "github.com/sluicehq/sluice/source/nats"
)

// stamped makes n messages to subject, "m<i>" stamped at start + i×step.
func stamped(subject string, n int, start time.Time, step time.Duration) []*natsgo.Msg {
	out := make([]*natsgo.Msg, n)
	for i := range out {
		out[i] = natssrc.Stamp(subject, fmt.Appendf(nil, "m%d", i), start.Add(time.Duration(i)*step))
	}
	return out
}

// TestPlanByTimeHeader fills a stream ahead of time with messages stamped
// every 250 ms from the harness's epoch: each one-second batch reads the
// four stamped in the second before it.
func TestPlanByTimeHeader(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	if js != nil {
		first, last, err := natssrc.Fill(bg, js, stamped("events.x", 12, sluicetest.Epoch, 250*time.Millisecond))
		if err != nil || first != 1 || last != 12 {
			t.Fatalf("Fill = %d, %d, %v; want 1, 12", first, last, err)
		}
	}
	h := sluicetest.New(t, time.Second, sluice.NoBackpressure())
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.PlanByTime(natssrc.TimeHeader), natssrc.Partitions(2))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events")))
	h.Run(4)
	want := [][]string{msgs(0, 4), msgs(4, 8), msgs(8, 12), nil}
	if got := out.Batches(); !equalBatches(got, want) {
		t.Errorf("batches %q, want %q", got, want)
	}
}

// TestPlanByTimeIsPure plans the same batches again, after more messages
// (stamped later) were added, and gets the same plans; after some were
// deleted, the plans read the same messages but the deleted ones.
func TestPlanByTimeIsPure(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := natssrc.Fill(bg, js, stamped("events.x", 100, start, 100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(bg, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.PlanByTime(natssrc.TimeHeader),
		natssrc.StartTime(start.Add(time.Second)), natssrc.PerPart(4, 64))
	defer src.Close()
	plans := func() []natssrc.Plan {
		var out []natssrc.Plan
		req := sluice.PlanRequest[natssrc.Plan]{Limit: -1}
		for i := 2; i <= 12; i++ {
			req.Batch = start.Add(time.Duration(i) * time.Second)
			p, err := src.Plan(bg, req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
			req.Prev, req.HasPrev = p, true
		}
		return out
	}
	first := plans()
	for i, p := range first {
		// batch start+(i+2)s reads the stamps in [start+(i+1)s, start+(i+2)s): m10(i+1) … m10(i+2)-1
		want := natssrc.Plan{From: uint64(10*(i+1) + 1), To: uint64(10*(i+2) + 1), Parts: 3}
		if i >= 9 {
			want = natssrc.Plan{From: 101, To: 101}
		}
		if p != want {
			t.Errorf("batch %d: plan %+v, want %+v", i, p, want)
		}
	}
	if _, _, err := natssrc.Fill(bg, js, stamped("events.x", 5, start.Add(time.Hour), time.Second)); err != nil {
		t.Fatal(err)
	}
	if again := plans(); !slices.Equal(again, first) {
		t.Errorf("plans %+v once later messages were added, %+v before", again, first)
	}
	deleted := map[int]bool{10: true, 19: true, 20: true, 54: true, 99: true} // m<i> is at sequence i+1
	for i := range deleted {
		if err := st.DeleteMsg(bg, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range plans() {
		var got, want []string
		for part := range src.Parts(p) {
			recs, _, err := src.Read(bg, p, part)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, recs...)
		}
		for _, m := range msgs(10*(i+1), min(10*(i+2), 100)) {
			if n, _ := strconv.Atoi(m[1:]); !deleted[n] {
				want = append(want, m)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("batch %d: read %q once messages were deleted, want %q", i, got, want)
		}
	}
}

func TestPlanByStoredTime(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	publish(t, js, "events.x", "m0", "m1", "m2")
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	publish(t, js, "events.x", "m3", "m4")
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.PlanByTime(""))
	defer src.Close()
	p, err := src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Batch: cut, Limit: -1})
	if want := (natssrc.Plan{From: 1, To: 4, Parts: 1}); err != nil || p != want {
		t.Fatalf("Plan = %+v, %v; want %+v", p, err, want)
	}
	p, err = src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Batch: time.Now().Add(time.Hour), Prev: p, HasPrev: true, Limit: -1})
	if want := (natssrc.Plan{From: 4, To: 6, Parts: 1}); err != nil || p != want {
		t.Fatalf("Plan = %+v, %v; want %+v", p, err, want)
	}
}

func TestPlanByTimeNeedsStamps(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	publish(t, js, "events.x", "no stamp")
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.PlanByTime(natssrc.TimeHeader))
	defer src.Close()
	_, err := src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Batch: time.Now(), Limit: -1})
	if err == nil || !strings.Contains(err.Error(), "EVENTS@1") || !strings.Contains(err.Error(), natssrc.TimeHeader) {
		t.Errorf("Plan over an unstamped message: %v, want an error naming EVENTS@1 and %s", err, natssrc.TimeHeader)
	}
}

func TestFillRefusesStampsOutOfOrder(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	ms := stamped("events.x", 3, time.Unix(100, 0), -time.Second)
	if _, _, err := natssrc.Fill(bg, js, ms); err == nil || !strings.Contains(err.Error(), "message 1") {
		t.Errorf("Fill of decreasing stamps: %v, want an error about message 1", err)
	}
	src := natssrc.New(url, "EVENTS", natssrc.Text)
	defer src.Close()
	if p, err := src.Plan(bg, sluice.PlanRequest[natssrc.Plan]{Limit: -1}); err != nil || p.Len() != 0 {
		t.Errorf("the stream holds %+v (%v), want nothing published", p, err)
	}
}
