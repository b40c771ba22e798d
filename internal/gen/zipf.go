package gen

import "fmt"

// Limits on Zipf tables, so that a bad argument fails loudly instead of
// allocating without bound.
const (
	// MaxZipfN is the largest number of ranks a Zipf sampler accepts.
	MaxZipfN = 1 << 24
	// MaxZipfS is the largest exponent a Zipf sampler accepts. Beyond it the
	// tail probabilities fall below the 2^-53 sampling resolution anyway.
	MaxZipfS = 16.0
)

// guideBits sets the size of the guide table (2^guideBits buckets) that
// narrows each binary search to the few ranks whose CDF crosses one bucket.
const guideBits = 12

// Zipf maps uniform 64-bit numbers to ranks 0..n-1 with P(rank k) ∝
// (k+1)^-s. It is immutable and safe for concurrent use.
type Zipf struct {
	// cdf[k] is P(rank <= k) in units of 2^-53; cdf[n-1] == 2^53.
	cdf []uint64
	// guide[b] is the first rank k with cdf[k] > b·2^(53-guideBits); the
	// rank of any u in bucket b lies in [guide[b], guide[b+1]].
	guide []int32
}

// NewZipf builds a Zipf sampler over n ranks with exponent s. It panics if
// n is not in [1, MaxZipfN] or s is not in [0, MaxZipfS]. The table is
// identical on every platform (see detPow).
func NewZipf(n int, s float64) *Zipf {
	if n < 1 || n > MaxZipfN || !(s >= 0 && s <= MaxZipfS) {
		panic(fmt.Sprintf("gen: NewZipf(%d, %v): n must be in [1, %d] and s in [0, %v]",
			n, s, MaxZipfN, MaxZipfS))
	}
	z := &Zipf{cdf: zipfCDF(n, s)}
	z.guide = guideTable(z.cdf)
	return z
}

// zipfCDF returns the cumulative distribution in units of 2^-53, summing the
// weights in rank order so the rounding is the same everywhere.
func zipfCDF(n int, s float64) []uint64 {
	w := make([]float64, n)
	total := 0.0
	for k := range w {
		w[k] = detPow(float64(k+1), s)
		total += w[k]
	}
	cdf := make([]uint64, n)
	cum := 0.0
	for k := range w {
		cum += w[k]
		cdf[k] = min(uint64(cum/total*unit53), unit53)
	}
	cdf[n-1] = unit53
	return cdf
}

func guideTable(cdf []uint64) []int32 {
	guide := make([]int32, 1<<guideBits+1)
	k := 0
	for b := range guide {
		bound := uint64(b) << (53 - guideBits)
		for k < len(cdf)-1 && cdf[k] <= bound {
			k++
		}
		guide[b] = int32(k)
	}
	return guide
}

// Len returns the number of ranks.
func (z *Zipf) Len() int { return len(z.cdf) }

// Rank maps a uniform 64-bit number to a rank in [0, Len()), 0 being the
// most frequent. It is a binary search, O(log n), over the part of the CDF
// that the guide table leaves, which is usually a handful of entries.
func (z *Zipf) Rank(u uint64) int {
	x := u >> 11
	b := x >> (53 - guideBits)
	lo, hi := int(z.guide[b]), int(z.guide[b+1])
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x < z.cdf[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Prob returns the probability of rank k as sampled (after rounding to the
// 2^-53 grid), or 0 if k is out of range.
func (z *Zipf) Prob(k int) float64 {
	if k < 0 || k >= len(z.cdf) {
		return 0
	}
	p := z.cdf[k]
	if k > 0 {
		p -= z.cdf[k-1]
	}
	return float64(p) / unit53
}
