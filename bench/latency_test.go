package bench

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestEmitWindowsMeasuresLatency checks that EmitWindows, with a
// benchmark run's Output, keeps no results and measures how long after
// its end each window's result was written.
func TestEmitWindowsMeasuresLatency(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []time.Time{sluicetest.Epoch.Add(500 * time.Millisecond)},
		[]time.Time{sluicetest.Epoch.Add(1500 * time.Millisecond)}, []time.Time{sluicetest.Epoch.Add(2500 * time.Millisecond)})
	windows := sluice.CountByEventWindow(in, func(time.Time) string { return "k" }, func(t time.Time) time.Time { return t },
		time.Second, time.Second, sluice.Named("w"))
	out := newLatencyOutput()
	EmitWindows(windows, out, func(sluice.KV[sluice.EventWindow[string], int64]) string { return "line" })
	before := time.Now()
	h.Run(3)
	after := time.Now()
	if len(out.Times()) != 0 {
		t.Errorf("the Output kept results of batches %v", out.Times())
	}
	// Windows [0, 1s) and [1s, 2s) close in batches 2 and 3.
	if all := out.windowLatencyMs(time.Time{}); len(all) != 2 {
		t.Fatalf("%d latencies, want 2", len(all))
	}
	lat := out.windowLatencyMs(h.Time(3))
	if len(lat) != 1 {
		t.Fatalf("%d latencies from batch 3, want 1", len(lat))
	}
	end := sluicetest.Epoch.Add(2 * time.Second)
	if lo, hi := ms(before.Sub(end)), ms(after.Sub(end)); lat[0] < lo || lat[0] > hi {
		t.Errorf("latency %v ms, want between %v and %v", lat[0], lo, hi)
	}
}

// TestRunReportsWindowLatency runs a workload of short event-time windows
// and checks that the result carries their latency.
func TestRunReportsWindowLatency(t *testing.T) {
	times := sluice.GeneratorFunc[time.Time](func(from, to int64, start, end time.Time) []time.Time {
		out := make([]time.Time, to-from)
		for k := range out {
			out[k] = start.Add(end.Sub(start) * time.Duration(k) / time.Duration(len(out)))
		}
		return out
	})
	w := Workload{Name: "windows", WindowLatency: true, Build: func(c *sluice.Context, _ uint64, rate int, out *Output) {
		windows := sluice.CountByEventWindow(sluice.Generate(c, times, rate), func(time.Time) int { return 0 },
			func(t time.Time) time.Time { return t }, 200*time.Millisecond, 200*time.Millisecond, sluice.Named("w"))
		EmitWindows(windows, out, func(sluice.KV[sluice.EventWindow[int], int64]) string { return "" })
	}}
	r, err := Run(context.Background(), w, Options{Master: "local[2]", Batch: 100 * time.Millisecond, Rate: 1000,
		Duration: 1500 * time.Millisecond, Warmup: 2, NoBaseline: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.WindowResults == 0 || r.WindowLatencyMsP50 <= 0 || r.WindowLatencyMsP99 < r.WindowLatencyMsP50 {
		t.Errorf("%d window results, latency p50 %v ms, p99 %v ms: want results and latencies", r.WindowResults,
			r.WindowLatencyMsP50, r.WindowLatencyMsP99)
	}
}
