package blockstore

import (
	"fmt"
	"testing"
)

// BenchmarkPutGet puts and gets blocks of 1000 records in turn, cycling
// over 64 blocks: all in memory, and with a budget of 8 blocks, so that
// every Put spills a block and every Get reads one from disk.
func BenchmarkPutGet(b *testing.B) {
	const nblocks, recs = 64, 1000
	parts := make([][]string, nblocks)
	for i := range parts {
		parts[i] = block(i, recs)
	}
	size := EstimateBytes(strs, parts[0])
	for _, bc := range []struct {
		name   string
		budget int64
	}{{"in-memory", -1}, {"spilling", 8 * size}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b, bc.budget)
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				put, get := i%nblocks, (i+nblocks/2)%nblocks
				if err := s.Put(bid(put), parts[put], strs); err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.Get(bid(get)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			st := s.Stats()
			b.ReportMetric(float64(st.Spills)/float64(b.N), "spills/op")
		})
	}
}

func BenchmarkEstimateBytes(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		part := block(0, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				EstimateBytes(strs, part)
			}
		})
	}
}
