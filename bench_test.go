package sluice_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// benchRecords is the size of every benchmark batch.
const benchRecords = 100_000

// benchInput makes a stream whose every batch is the same benchRecords
// text records (DESIGN.md section 11's generator), in 2 partitions.
func benchInput(b *testing.B, h *sluicetest.Harness) *sluice.Stream[string] {
	b.Helper()
	batch := sluice.TextGenerator(1).Records(0, benchRecords, time.Time{}, time.Time{})
	q := sluice.NewQueue[string]()
	for i := 0; i < b.N+1; i++ {
		q.Push(batch...)
	}
	return sluice.QueueStream(h.Context, q, 2)
}

func wordPairs(s *sluice.Stream[string]) *sluice.Stream[sluice.KV[string, int64]] {
	return sluice.FlatMap(s, func(line string) []sluice.KV[string, int64] {
		f := strings.Fields(line)
		out := make([]sluice.KV[string, int64], len(f))
		for i, w := range f {
			out[i] = sluice.Pair(w, int64(1))
		}
		return out
	})
}

func benchAdd(a, b int64) int64 { return a + b }
func benchSub(a, b int64) int64 { return a - b }

// runBench runs one warm-up batch, then b.N measured batches, and reports
// records per second.
func runBench(b *testing.B, h *sluicetest.Harness) {
	b.Helper()
	h.Run(1)
	b.ResetTimer()
	h.Run(b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}

func countOutput[T any](s *sluice.Stream[T]) {
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], _ time.Time) error {
		_, err := d.Count(ctx)
		return err
	})
}

func BenchmarkMapFilter(b *testing.B) {
	h := sluicetest.New(b, time.Second)
	lines := benchInput(b, h)
	lengths := sluice.Map(sluice.Filter(lines, func(s string) bool { return s[0] != 'x' }), func(s string) int { return len(s) })
	countOutput(lengths)
	runBench(b, h)
}

func BenchmarkReduceByKey(b *testing.B) {
	h := sluicetest.New(b, time.Second)
	countOutput(sluice.ReduceByKey(wordPairs(benchInput(b, h)), benchAdd))
	runBench(b, h)
}

func BenchmarkReduceByKeyAndWindow(b *testing.B) {
	h := sluicetest.New(b, time.Second)
	pairs := wordPairs(benchInput(b, h))
	countOutput(sluice.ReduceByKeyAndWindow(pairs, benchAdd, benchSub, 30*time.Second, time.Second, sluice.Named("counts")))
	runBench(b, h)
}

func BenchmarkUpdateStateByKey(b *testing.B) {
	h := sluicetest.New(b, time.Second)
	pairs := sluice.ReduceByKey(wordPairs(benchInput(b, h)), benchAdd)
	state := sluice.UpdateStateByKey(pairs, func(_ string, vs []int64, total int64, _ bool) (int64, bool) {
		for _, v := range vs {
			total += v
		}
		return total, true
	}, sluice.Named("totals"))
	countOutput(state)
	runBench(b, h)
}
