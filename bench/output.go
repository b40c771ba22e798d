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
type Output struct {
	mu      sync.Mutex
	batches map[time.Time][]string
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
// into out, or, with a nil out (a benchmark run), counted and dropped,
// which computes them all without the cost of formatting.
func Emit[T any](s *sluice.Stream[T], out *Output, format func(T) string) {
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], t time.Time) error {
		if out == nil {
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
