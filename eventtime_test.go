package sluice_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sluicetest"
)

// The event-time tests' records carry their event times in their values:
// ev("a", 12) is a record of key a at event time 12s, whose value is the
// list [12]. The windows merge the lists (sorted), so that each result
// shows which records it counted: win("a", 10, 20, 11, 12) is the window
// [10s, 20s) of a, made of the records at 11s and 12s. Event time is
// unrelated to the batches (1s apart): each test's comments work out the
// watermark (wm) after every batch.

type evRec = sluice.KV[string, []int]

type winRec = sluice.KV[sluice.EventWindow[string], []int]

func ev(k string, sec int) evRec { return sluice.Pair(k, []int{sec}) }

// evTime is the event time of an input record.
func evTime(r evRec) time.Time { return time.Unix(int64(r.Value[0]), 0) }

// merge concatenates lists into a sorted one: associative and commutative.
func merge(a, b []int) []int {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return out
}

func win(k string, start, end int, secs ...int) winRec {
	return sluice.Pair(sluice.EventWindow[string]{
		Start: time.Unix(int64(start), 0).UTC(), End: time.Unix(int64(end), 0).UTC(), Key: k}, secs)
}

// dropLog is a slog handler that sums the records that event-time windows
// report dropped (logged at Debug level).
type dropLog struct {
	mu sync.Mutex
	n  int64
}

func (h *dropLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *dropLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *dropLog) WithGroup(string) slog.Handler            { return h }

func (h *dropLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelDebug || !strings.Contains(r.Message, "dropped late records") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "records" {
			h.mu.Lock()
			h.n += a.Value.Int64()
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *dropLog) dropped() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// newEventHarness is a harness whose logger counts dropped records.
func newEventHarness(t *testing.T, opts ...sluice.Option) (*sluicetest.Harness, *dropLog) {
	drops := &dropLog{}
	h := sluicetest.New(t, time.Second, append(opts, sluice.Logger(slog.New(drops)))...)
	return h, drops
}

func assertDropped(t *testing.T, drops *dropLog, want int64) {
	t.Helper()
	if os.Getenv(sluicetest.MasterEnv) != "" {
		return // the workers log drops, in their own processes
	}
	if got := drops.dropped(); got != want {
		t.Fatalf("%d records logged as dropped, want %d", got, want)
	}
}

func TestEventWindowTumbling(t *testing.T) {
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 2,
		[]evRec{ev("a", 1), ev("b", 3), ev("a", 4)},   // wm 4
		[]evRec{ev("a", 12), ev("b", 9)},              // wm 12: [0,10) closes
		[]evRec{ev("a", 8)},                           // late; the watermark does not go back to 8
		[]evRec{ev("b", 10), ev("a", 11), ev("b", 7)}, // b@7 is late too; wm 12
		nil,                  // wm 12
		[]evRec{ev("c", 20)}, // wm 20: [10,20) closes, exactly at its end
		[]evRec{ev("a", 30)}, // wm 30: [20,30) closes
	)
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 10*sec, 10*sec, sluice.Named("tumbling")))
	h.Run(7)
	assertSorted(t, out.Batches(), batches(
		nil,
		[]winRec{win("a", 0, 10, 1, 4), win("b", 0, 10, 3, 9)},
		nil,
		nil,
		nil,
		[]winRec{win("a", 10, 20, 11, 12), win("b", 10, 20, 10)},
		[]winRec{win("c", 20, 30, 20)},
	))
	// Every batch has a dataset, empty when no window closed.
	assertTimes(t, h, out, 1, 2, 3, 4, 5, 6, 7)
	assertDropped(t, drops, 2)
}

func TestEventWindowSliding(t *testing.T) {
	// Windows of 3s every 2s: [-2,1), [0,3), [2,5), [4,7), … — the window
	// is not a multiple of the slide, so a record is in one or two windows
	// (4s is in [2,5) and [4,7); 5s only in [4,7)).
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 3,
		[]evRec{ev("a", 0), ev("a", 2), ev("b", 1)}, // wm 2: [-2,1) closes
		[]evRec{ev("a", 4), ev("b", 5)},             // wm 5: [0,3) and [2,5) close
		[]evRec{ev("b", 3)},                         // 3s is only in [2,5), closed: late
		[]evRec{ev("a", 9)},                         // wm 9: [4,7) closes; [6,9) has no record
		nil,
	)
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 3*sec, 2*sec, sluice.Named("sliding")))
	h.Run(5)
	assertSorted(t, out.Batches(), batches(
		[]winRec{win("a", -2, 1, 0)},
		[]winRec{win("a", 0, 3, 0, 2), win("b", 0, 3, 1), win("a", 2, 5, 2, 4)},
		nil,
		[]winRec{win("a", 4, 7, 4), win("b", 4, 7, 5)},
		nil,
	))
	assertDropped(t, drops, 1)
}

// latenessInput is the input of the allowed-lateness tests, for windows of
// 4s every 2s with 3s of allowed lateness; latenessOutput is their result.
var latenessInput = [][]evRec{
	{ev("a", 10)},            // wm 7 (10 − 3): nothing closes
	{ev("a", 6)},             // out of order but within the lateness: kept in [4,8) and [6,10); wm 7
	{ev("b", 13)},            // wm 10: [4,8) and [6,10) close
	{ev("a", 9), ev("c", 5)}, // a@9: late for [6,10) but kept in [8,12); c@5: late for both its windows
	{ev("b", 16)},            // wm 13: [8,12) closes
	nil,                      // wm 13
	{ev("a", 21)},            // wm 18: [10,14), [12,16) and [14,18) close
}

func TestEventWindowAllowedLateness(t *testing.T) {
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 2, latenessInput...)
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 4*sec, 2*sec,
		sluice.Named("late"), sluice.AllowedLateness(3*sec)))
	h.Run(8)
	assertSorted(t, out.Batches(), latenessOutput)
	// c@5 is dropped from all its windows; a@9 only from one.
	assertDropped(t, drops, 1)
}

var latenessOutput = batches(
	nil,
	nil,
	[]winRec{win("a", 4, 8, 6), win("a", 6, 10, 6)},
	nil,
	[]winRec{win("a", 8, 12, 9, 10)},
	nil,
	[]winRec{win("a", 10, 14, 10), win("b", 10, 14, 13), win("b", 12, 16, 13), win("b", 14, 18, 16)},
	nil, // [16,20), [18,22) and [20,24) stay open: no record moves the watermark
)

func TestEventWindowClosesWhenTheWatermarkPasses(t *testing.T) {
	// Nothing moves the watermark for three batches; then records that
	// do not reach the window's end; then one that does.
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 1,
		[]evRec{ev("a", 1)}, // wm 1
		nil, nil, nil,
		[]evRec{ev("b", 2), ev("a", 9)}, // wm 9
		[]evRec{ev("b", 10)},            // wm 10: [0,10) closes
	)
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 10*sec, 10*sec, sluice.Named("slow")))
	h.Run(7)
	assertSorted(t, out.Batches(), batches(nil, nil, nil, nil, nil,
		[]winRec{win("a", 0, 10, 1, 9), win("b", 0, 10, 2)}, nil))
	assertTimes(t, h, out, 1, 2, 3, 4, 5, 6, 7)
	assertDropped(t, drops, 0)
}

func TestEventWindowBeforeAnyRecord(t *testing.T) {
	// Before the first record the watermark is minus infinity: however
	// old, the first records are not late.
	h, _ := newEventHarness(t)
	in := sluicetest.Input(h, 2, nil, nil, []evRec{ev("a", -95), ev("a", 50)}, []evRec{ev("a", 49)})
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 10*sec, 10*sec, sluice.Named("first")))
	h.Run(4)
	// Window starts are multiples of the slide before the epoch too.
	assertSorted(t, out.Batches(), batches(nil, nil, []winRec{win("a", -100, -90, -95)}, nil))
}

func TestEventWindowOutOfRangeTimesAreDropped(t *testing.T) {
	// A zero time.Time (year 1) is outside Unix nanoseconds: the record is
	// dropped and counted, and does not move the watermark.
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 2, []evRec{ev("a", -1), ev("b", 5)}, []evRec{ev("b", 10), ev("a", 1<<40)}, []evRec{ev("b", 11)})
	at := func(r evRec) time.Time {
		switch r.Value[0] {
		case -1:
			return time.Time{}
		case 1 << 40:
			return time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return evTime(r)
	}
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, at, merge, 10*sec, 10*sec, sluice.Named("range")))
	h.Run(3)
	assertSorted(t, out.Batches(), batches(nil, []winRec{win("b", 0, 10, 5)}, nil))
	assertDropped(t, drops, 2)
}

// click is the record of the CountByEventWindow tests.
type click struct {
	Ad string
	At int // event time, seconds
}

func clickAd(c click) string      { return c.Ad }
func clickTime(c click) time.Time { return time.Unix(int64(c.At), 0) }

type countRec = sluice.KV[sluice.EventWindow[string], int64]

func cnt(k string, start, end int, n int64) countRec {
	return sluice.Pair(sluice.EventWindow[string]{
		Start: time.Unix(int64(start), 0).UTC(), End: time.Unix(int64(end), 0).UTC(), Key: k}, n)
}

func TestCountByEventWindow(t *testing.T) {
	h, drops := newEventHarness(t)
	in := sluicetest.Input(h, 2,
		[]click{{"x", 6}, {"x", 9}, {"y", 12}}, // wm 12: [0,10) closes
		[]click{{"y", 17}, {"x", 21}},          // wm 21: [5,15) and [10,20) close
		[]click{{"x", 14}},                     // late for [5,15) and [10,20), all its windows
		nil,
	)
	out := sluicetest.Collect(sluice.CountByEventWindow(in, clickAd, clickTime, 10*sec, 5*sec, sluice.Named("clicks")))
	h.Run(4)
	assertSorted(t, out.Batches(), batches(
		[]countRec{cnt("x", 0, 10, 2)},
		[]countRec{cnt("x", 5, 15, 2), cnt("y", 5, 15, 1), cnt("y", 10, 20, 2)},
		nil, nil,
	))
	assertDropped(t, drops, 1)
}

// eventConfig is one way to run an event-time job.
type eventConfig struct {
	master string
	parts  int // input partitions
	o      []sluice.OpOption
}

func (c eventConfig) String() string {
	return fmt.Sprintf("%s in=%d opts=%d", c.master, c.parts, len(c.o))
}

// firstLetter places string keys by their first byte.
type firstLetter struct{ n int }

func (f firstLetter) Partitions() int        { return f.n }
func (f firstLetter) Partition(k string) int { return int(k[0]) % f.n }
func (f firstLetter) Name() string           { return "first-letter" }

func TestEventWindowIndependentOfPartitioning(t *testing.T) {
	configs := []eventConfig{
		{master: "local[1]", parts: 1},
		{master: "local[3]", parts: 3, o: []sluice.OpOption{sluice.Partitions(5)}},
		{master: "local[3]", parts: 2, o: []sluice.OpOption{sluice.Partitions(1), sluice.CheckpointInterval(sec)}},
		{master: "local[2]", parts: 4, o: []sluice.OpOption{sluice.WithPartitioner[string](firstLetter{3})}},
	}
	for _, cfg := range configs {
		t.Run(cfg.String(), func(t *testing.T) {
			h, drops := newEventHarness(t, sluice.Master(cfg.master))
			in := sluicetest.Input(h, cfg.parts, latenessInput...)
			o := append(slices.Clone(cfg.o), sluice.Named("late"), sluice.AllowedLateness(3*sec))
			out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 4*sec, 2*sec, o...))
			h.Run(8)
			assertSorted(t, out.Batches(), latenessOutput)
			assertDropped(t, drops, 1)
		})
	}
}

func TestEventWindowConstructionErrors(t *testing.T) {
	type S = sluice.Stream[kv]
	at := func(r kv) time.Time { return time.Unix(int64(r.Value), 0) }
	cases := []struct {
		name  string
		build func(h *sluicetest.Harness, in *S)
		words []string
	}{
		{"no name", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, 10*sec, 10*sec)
		}, []string{"ReduceByKeyAndEventWindow", "need a name", "Named"}},
		{"count without name", func(_ *sluicetest.Harness, in *S) {
			sluice.CountByEventWindow(in, func(r kv) string { return r.Key }, at, 10*sec, 10*sec)
		}, []string{"CountByEventWindow", "need a name", "Named"}},
		{"slide over window", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, 10*sec, 20*sec, sluice.Named("w"))
		}, []string{"ReduceByKeyAndEventWindow", "slide 20s exceeds the window 10s"}},
		{"zero window", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, 0, sec, sluice.Named("w"))
		}, []string{"ReduceByKeyAndEventWindow", "window 0s and slide 1s must be positive"}},
		{"negative slide", func(_ *sluicetest.Harness, in *S) {
			sluice.CountByEventWindow(in, func(r kv) string { return r.Key }, at, sec, -sec, sluice.Named("w"))
		}, []string{"CountByEventWindow", "must be positive"}},
		{"too many windows per record", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, time.Hour, time.Millisecond, sluice.Named("w"))
		}, []string{"ReduceByKeyAndEventWindow", "3600000 windows", "more than 10000"}},
		{"negative lateness", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, sec, sec, sluice.Named("w"), sluice.AllowedLateness(-sec))
		}, []string{"ReduceByKeyAndEventWindow", "negative allowed lateness -1s"}},
		{"nil event time", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, nil, add, sec, sec, sluice.Named("w"))
		}, []string{"ReduceByKeyAndEventWindow", "nil event-time function"}},
		{"nil reduce", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, nil, sec, sec, sluice.Named("w"))
		}, []string{"ReduceByKeyAndEventWindow", "nil reduce function"}},
		{"nil key", func(_ *sluicetest.Harness, in *S) {
			sluice.CountByEventWindow[kv, string](in, nil, at, sec, sec, sluice.Named("w"))
		}, []string{"CountByEventWindow", "nil key function"}},
		{"nil count event time", func(_ *sluicetest.Harness, in *S) {
			sluice.CountByEventWindow(in, func(r kv) string { return r.Key }, nil, sec, sec, sluice.Named("w"))
		}, []string{"CountByEventWindow", "nil event-time function"}},
		{"partitioner of the wrong key type", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, sec, sec, sluice.Named("w"),
				sluice.WithPartitioner(dataset.HashPartitioner[int](2)))
		}, []string{"ReduceByKeyAndEventWindow", "does not place keys of type string"}},
		{"duplicate name", func(_ *sluicetest.Harness, in *S) {
			sluice.UpdateStateByKey(in, func(string, []int, int, bool) (int, bool) { return 0, true }, sluice.Named("totals"))
			sluice.ReduceByKeyAndEventWindow(in, at, add, sec, sec, sluice.Named("totals"))
		}, []string{"ReduceByKeyAndEventWindow", `"totals"`, "already used"}},
		{"bad checkpoint interval", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndEventWindow(in, at, add, sec, sec, sluice.Named("w"), sluice.CheckpointInterval(-sec))
		}, []string{"ReduceByKeyAndEventWindow", "checkpoint interval -1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := buildErr(t, tc.build)
			assertMentions(t, err, tc.words...)
			assertMentions(t, err, "eventtime_test.go:")
		})
	}
}

// naiveEventWindows computes, batch by batch, what an event-time window
// operator must emit, from the records' event times (in units of unit;
// w, slide and lateness too): the watermark before and after each batch,
// the records added to their open windows, the windows the watermark
// closed. It also returns the number of records late for all their
// windows.
func naiveEventWindows(in [][]evRec, unit time.Duration, w, slide, lateness int64, total int) (out [][]winRec, dropped int64) {
	type window struct {
		start int64
		key   string
	}
	latest, seen := int64(0), false
	open := map[window][]int{}
	for b := 0; b < total; b++ {
		var recs []evRec
		if b < len(in) {
			recs = in[b]
		}
		before := int64(math.MinInt64) // the watermark before the batch
		if seen {
			before = latest - lateness
		}
		for _, r := range recs {
			if at := int64(r.Value[0]); !seen || at > latest {
				latest, seen = at, true
			}
		}
		for _, r := range recs {
			at := int64(r.Value[0])
			kept := false
			// Every multiple of the slide from below at−w up to at.
			for start := (at-w)/slide*slide - slide; start <= at; start += slide {
				if start > at || at >= start+w {
					continue
				}
				if start+w <= before {
					continue
				}
				kept = true
				k := window{start, r.Key}
				open[k] = merge(open[k], r.Value)
			}
			if !kept {
				dropped++
			}
		}
		var closed []winRec
		for k, v := range open {
			if seen && k.start+w <= latest-lateness {
				closed = append(closed, sluice.Pair(sluice.EventWindow[string]{
					Start: time.Unix(0, k.start*int64(unit)).UTC(), End: time.Unix(0, (k.start+w)*int64(unit)).UTC(), Key: k.key}, v))
				delete(open, k)
			}
		}
		out = append(out, closed)
	}
	return out, dropped
}

func TestPropertyEventWindowEqualsNaive(t *testing.T) {
	skipOnCluster(t, "rapid draws differ between processes")
	const unit = 250 // ms: event times, windows and slides are multiples
	rapid.Check(t, func(rt *rapid.T) {
		nb := rapid.IntRange(1, 8).Draw(rt, "batches")
		w := int64(rapid.IntRange(1, 12).Draw(rt, "window")) * unit
		slide := int64(rapid.IntRange(1, int(w/unit)).Draw(rt, "slide")) * unit
		lateness := int64(rapid.IntRange(0, 8).Draw(rt, "lateness")) * unit
		// Event times drift forward by about a second a batch, up to 3s
		// out of order, and from before the epoch.
		var in [][]evRec
		for b := 0; b < nb; b++ {
			n := rapid.IntRange(0, 5).Draw(rt, "records")
			var batch []evRec
			for i := 0; i < n; i++ {
				ms := (b*4 + rapid.IntRange(-12, 6).Draw(rt, "offset")) * unit
				batch = append(batch, ev(fmt.Sprint("k", rapid.IntRange(0, 3).Draw(rt, "key")), ms))
			}
			in = append(in, batch)
		}
		cfg := eventConfig{
			master: rapid.SampledFrom([]string{"local[1]", "local[3]"}).Draw(rt, "master"),
			parts:  rapid.IntRange(1, 4).Draw(rt, "input partitions"),
		}
		if n := rapid.IntRange(0, 4).Draw(rt, "state partitions"); n > 0 {
			cfg.o = append(cfg.o, sluice.Partitions(n))
		}
		if rapid.Bool().Draw(rt, "checkpoint every batch") {
			cfg.o = append(cfg.o, sluice.CheckpointInterval(sec))
		}
		total := nb + 2

		h, drops := newEventHarness(t, sluice.Master(cfg.master))
		defer h.Context.Stop()
		src := sluicetest.Input(h, cfg.parts, in...)
		at := func(r evRec) time.Time { return time.UnixMilli(int64(r.Value[0])) }
		W, S, L := time.Duration(w)*time.Millisecond, time.Duration(slide)*time.Millisecond, time.Duration(lateness)*time.Millisecond
		o := append(slices.Clone(cfg.o), sluice.AllowedLateness(L))
		reduced := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(src, at, merge, W, S, append(o, sluice.Named("reduce"))...))
		counted := sluicetest.Collect(sluice.CountByEventWindow(src, func(r evRec) string { return r.Key }, at, W, S,
			append(o, sluice.Named("count"))...))
		h.Run(total)

		want, dropped := naiveEventWindows(in, time.Millisecond, w, slide, lateness, total)
		if g, wt := sorted(reduced.Batches()), sorted(want); !sameBatches(g, wt) {
			rt.Fatalf("%v: windows differ from the naive ones:\n%s", cfg, diffBatches(g, wt))
		}
		var wantCounts [][]countRec
		for _, b := range want {
			var cs []countRec
			for _, r := range b {
				cs = append(cs, sluice.Pair(r.Key, int64(len(r.Value))))
			}
			wantCounts = append(wantCounts, cs)
		}
		if g, wt := sorted(counted.Batches()), sorted(wantCounts); !sameBatches(g, wt) {
			rt.Fatalf("%v: counts differ from the naive ones:\n%s", cfg, diffBatches(g, wt))
		}
		// Both operators log their drops.
		if got := drops.dropped(); got != 2*dropped {
			rt.Fatalf("%v: %d records logged as dropped, want %d (twice %d)", cfg, got, 2*dropped, dropped)
		}
	})
}

func TestEventWindowLongRunHoldsBoundedState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 200 batches")
	}
	// Past many state checkpoints (every 3 batches), datasets, blocks and
	// shuffle outputs stop growing, and the windows are still right.
	h, drops := newEventHarness(t)
	var input [][]evRec
	for i := 0; i < 200; i++ {
		// k's records lag: by 5s (late for some of their windows) or 15s
		// (for all).
		input = append(input, []evRec{ev("a", 2*i), ev(fmt.Sprint("k", i%7), 2*i-5-10*(i%2))})
	}
	in := sluicetest.Input(h, 2, input...)
	out := sluicetest.Collect(sluice.ReduceByKeyAndEventWindow(in, evTime, merge, 10*sec, 4*sec,
		sluice.Named("w"), sluice.AllowedLateness(2*sec), sluice.CheckpointInterval(3*sec)))
	sample := func() [5]int {
		d, c, s, wb, wo := sluice.EngineCounts(h.Context)
		return [5]int{d, c, s, wb, wo}
	}
	h.Run(50)
	at50 := sample()
	h.Run(150)
	at200 := sample()
	for i, name := range []string{"datasets", "cached blocks", "shuffles", "worker blocks", "worker map outputs"} {
		if at200[i] > at50[i]+at50[i]/5+10 {
			t.Errorf("%s grew from %d (batch 50) to %d (batch 200)", name, at50[i], at200[i])
		}
	}
	want, dropped := naiveEventWindows(input, time.Second, 10, 4, 2, 200)
	assertSorted(t, out.Batches(), want)
	assertDropped(t, drops, dropped)
	if dropped == 0 {
		t.Fatal("the input has no late record: the test does not test them")
	}
}
