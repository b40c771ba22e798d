package gen

import (
	"math"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// TestDetPowAccurate checks the platform-independent power against math.Pow.
func TestDetPowAccurate(t *testing.T) {
	for _, s := range []float64{0, 0.5, 1, ZipfS, 2, 7.3, MaxZipfS} {
		for x := 1.0; x <= MaxZipfN; x = math.Ceil(x * 1.37) {
			got, want := detPow(x, s), math.Pow(x, -s)
			if rel := math.Abs(got-want) / want; rel > 1e-13 {
				t.Fatalf("detPow(%v, %v) = %v, math.Pow gives %v (rel err %g)", x, s, got, want, rel)
			}
		}
	}
}

// TestDetPowGolden pins exact bits, so a platform that computes the Zipf
// table differently fails here rather than silently changing records.
func TestDetPowGolden(t *testing.T) {
	for _, c := range []struct {
		x    float64
		bits uint64
	}{
		{1, 0x3ff0000000000000},
		{2, 0x3fdddb680117ab12},
		{100, 0x3f79d811398ddcbe},
		{10000, 0x3f04df4dd27fe99c},
	} {
		if got := math.Float64bits(detPow(c.x, ZipfS)); got != c.bits {
			t.Errorf("detPow(%v, %v) bits = %#x, want %#x", c.x, ZipfS, got, c.bits)
		}
	}
}

// TestZipfRankMatchesSearch compares the guided search with a plain binary
// search over the whole CDF.
func TestZipfRankMatchesSearch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 5000).Draw(t, "n")
		s := rapid.Float64Range(0, 4).Draw(t, "s")
		z := NewZipf(n, s)
		for range 200 {
			u := rapid.Uint64().Draw(t, "u")
			want := sort.Search(n, func(k int) bool { return u>>11 < z.cdf[k] })
			if got := z.Rank(u); got != want {
				t.Fatalf("Rank(%#x) = %d, want %d", u, got, want)
			}
		}
	})
}

func TestZipfEdges(t *testing.T) {
	z := NewZipf(DefaultVocabSize, ZipfS)
	if got := z.Rank(0); got != 0 {
		t.Errorf("Rank(0) = %d, want 0", got)
	}
	if got := z.Rank(math.MaxUint64); got != DefaultVocabSize-1 {
		t.Errorf("Rank(max) = %d, want %d", got, DefaultVocabSize-1)
	}
	if got := NewZipf(1, ZipfS).Rank(math.MaxUint64); got != 0 {
		t.Errorf("n=1: Rank(max) = %d, want 0", got)
	}
	sum := 0.0
	for k := range z.Len() {
		sum += z.Prob(k)
	}
	if math.Abs(sum-1) > 1e-9 || z.Prob(-1) != 0 || z.Prob(z.Len()) != 0 {
		t.Errorf("probabilities sum to %v; out-of-range Prob not 0", sum)
	}
	for _, bad := range []struct {
		n int
		s float64
	}{{0, 1}, {MaxZipfN + 1, 1}, {10, -1}, {10, math.NaN()}, {10, MaxZipfS + 1}} {
		mustPanic(t, func() { NewZipf(bad.n, bad.s) })
	}
}

// TestZipfFrequencies samples the distribution and compares with the
// theoretical frequencies computed independently with math.Pow.
func TestZipfFrequencies(t *testing.T) {
	const n, draws = DefaultVocabSize, 2_000_000
	z := NewZipf(n, ZipfS)
	h := 0.0
	for k := 1; k <= n; k++ {
		h += math.Pow(float64(k), -ZipfS)
	}
	counts := make([]int, n)
	r := newRNG(1, 0, 0)
	for range draws {
		counts[z.Rank(r.next())]++
	}
	for _, k := range []int{0, 1, 9, 99} {
		want := math.Pow(float64(k+1), -ZipfS) / h
		got := float64(counts[k]) / draws
		// 5 standard deviations of a binomial proportion.
		if tol := 5 * math.Sqrt(want*(1-want)/draws); math.Abs(got-want) > tol {
			t.Errorf("rank %d: frequency %.6f, want %.6f ± %.6f", k, got, want, tol)
		}
	}
	if ratio := float64(counts[0]) / float64(counts[99]); ratio < 100 {
		t.Errorf("rank 0 / rank 99 = %.1f, want about 100^1.1 = 158", ratio)
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Helper()
			t.Error("no panic")
		}
	}()
	f()
}
