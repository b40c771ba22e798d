package bench

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Input is the generated input a workload reads: what sluice.Generate
// makes at Rate records/s in batches of Batch, when no limit holds it
// back. A baseline reads the same records with Range.
type Input struct {
	Seed  uint64
	Rate  int
	Batch time.Duration
	// Zero is the start of batch 0's interval: the job's first batch
	// time less one interval.
	Zero time.Time
}

// Range returns batch k's records [from, to), the interval [start, end)
// their event times spread over, and the batch's time (end), as
// sluice.Generate makes them: batch k holds records [⌊k·n⌋, ⌊(k+1)·n⌋)
// with n = Rate × Batch in seconds.
func (in Input) Range(k int64) (from, to int64, start, end time.Time) {
	upTo := func(k int64) int64 {
		hi, lo := bits.Mul64(uint64(k), uint64(in.Rate)*uint64(in.Batch))
		q, _ := bits.Div64(hi, lo, uint64(time.Second))
		return int64(q)
	}
	start = in.Zero.Add(time.Duration(k) * in.Batch)
	return upTo(k), upTo(k + 1), start, start.Add(in.Batch)
}

// Output collects a job's results batch by batch as text lines, so that
// Sluice's output and the baseline's can be compared.
//
// In a benchmark run, Build gets a nil Output, or, for a workload with
// WindowLatency, one that keeps no results but the latencies EmitWindows
// measures (see newLatencyOutput).
type Output struct {
	mu      sync.Mutex
	batches map[time.Time][]string
	// measures makes this a benchmark run's Output (newLatencyOutput):
	// it keeps no results, only the latencies of window results.
	measures  bool
	latencies []windowLatency
}

// windowLatency is one event-time window result's latency, written by the
// batch at t.
type windowLatency struct {
	t       time.Time
	latency time.Duration
}

// newLatencyOutput returns a benchmark run's Output that records window
// latencies.
func newLatencyOutput() *Output { return &Output{measures: true} }

// discards says whether results written to o are dropped: a benchmark
// run's Output.
func (o *Output) discards() bool { return o == nil || o.measures }

// windowLatencyMs returns the latencies, in milliseconds, of the window
// results written by the batches at or after from.
func (o *Output) windowLatencyMs(from time.Time) []float64 {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []float64
	for _, l := range o.latencies {
		if !l.t.Before(from) {
			out = append(out, ms(l.latency))
		}
	}
	return out
}

// NewOutput returns an empty Output.
func NewOutput() *Output { return &Output{batches: make(map[time.Time][]string)} }

// Add records lines as results of the batch at t (sorted with any
// already added: a batch's results form a set, in no order).
func (o *Output) Add(t time.Time, lines ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := append(o.batches[t.UTC()], lines...)
	slices.Sort(b)
	o.batches[t.UTC()] = b
}

// Batch returns the results of the batch at t, sorted.
func (o *Output) Batch(t time.Time) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.batches[t.UTC()])
}

// Times returns the times of the batches with results, in order.
func (o *Output) Times() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ts []time.Time
	for t, b := range o.batches {
		if len(b) > 0 {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// Emit writes s's results: each batch's records formatted with format
// into out, or, in a benchmark run (a nil out, or one that measures),
// counted and dropped, which computes them all without the cost of
// formatting.
func Emit[T any](s *sluice.Stream[T], out *Output, format func(T) string) {
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], t time.Time) error {
		if out.discards() {
			_, err := d.Count(ctx)
			return err
		}
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		lines := make([]string, len(recs))
		for i, r := range recs {
			lines[i] = format(r)
		}
		out.Add(t, lines...)
		return nil
	})
}

// EmitWindows writes s's event-time window results as Emit does. In a
// benchmark run of a workload with WindowLatency, it measures the latency
// of each result as the Yahoo streaming benchmark defines it: the time
// from the window's end (its last event; the generators' event times are
// wall-clock arrival times) to the result being written, here when the
// batch's results reach the driver.
func EmitWindows[K comparable, V any](s *sluice.Stream[sluice.KV[sluice.EventWindow[K], V]], out *Output,
	format func(sluice.KV[sluice.EventWindow[K], V]) string) {
	if out == nil || !out.measures {
		Emit(s, out, format)
		return
	}
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[sluice.KV[sluice.EventWindow[K], V]], t time.Time) error {
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		out.mu.Lock()
		defer out.mu.Unlock()
		for _, r := range recs {
			out.latencies = append(out.latencies, windowLatency{t: t, latency: now.Sub(r.Key.End)})
		}
		return nil
	})
}
