package gen

import (
	"math"
	"math/bits"
)

// golden is 2^64 divided by the golden ratio, the splitmix64 increment.
const golden = 0x9e3779b97f4a7c15

// Domains separate the random streams of different uses of the same seed,
// so that, say, record i of a text stream and event i of an ad stream with
// the same seed are unrelated.
const (
	domainVocab uint64 = 0x766f636162756c61 // "vocabula"
	domainText  uint64 = 0x746578747265636f // "textreco"
	domainAds   uint64 = 0x61646576656e7473 // "adevents"
	domainBot   uint64 = 0x626f747573657273 // "botusers"
	domainIP    uint64 = 0x6970616464726573 // "ipaddres"
	domainCamp  uint64 = 0x63616d706169676e // "campaign"
)

// mix is the splitmix64 finaliser: a bijective, well-avalanched 64-bit hash.
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// hash2 hashes a (seed, domain) pair with a 64-bit value, for one-off
// derived quantities such as a user's IP address.
func hash2(seed, domain, x uint64) uint64 {
	return mix(mix(seed^domain) + x*golden)
}

// rng is a counter-based splitmix64 stream. Each record gets its own rng,
// whose start is a hash of (seed, domain, index); no state is shared between
// records, which is what makes generation random-access.
type rng struct{ state uint64 }

func newRNG(seed, domain uint64, i int64) rng {
	return rng{state: hash2(seed, domain, uint64(i))}
}

func (r *rng) next() uint64 {
	r.state += golden
	return mix(r.state)
}

// pick maps a uniform 64-bit number to [0, n) by a multiply-high, which is
// cheaper than a modulo and has the same negligible bias for small n.
func pick(u uint64, n int) int {
	hi, _ := bits.Mul64(u, uint64(n))
	return int(hi)
}

// unit53 is 2^53, the resolution of every probability threshold here: a
// uniform number's top 53 bits compared with p·2^53. Scaling by a power of
// two is exact, so the threshold is the same on every platform.
const unit53 = 1 << 53

// threshold converts a probability in [0, 1] to a 53-bit threshold.
func threshold(p float64) uint64 {
	return uint64(p * unit53)
}

// below reports whether u falls below threshold t (probability t/2^53).
func below(u, t uint64) bool {
	return u>>11 < t
}

// detPow returns x^-s for x >= 1 and s >= 0, computed with only correctly
// rounded IEEE operations (+, -, *, /) and exact bit manipulations.
// math.Pow, math.Log and math.Exp are implemented differently per platform
// (assembly on some, and the compiler may fuse multiply-adds on arm64, ppc64
// and s390x), so their last bit can differ; a Zipf table built from them
// could then sample a different word on a rare draw on another machine.
// The explicit float64 conversions prevent fusion (Go spec, "Arithmetic
// operators").
func detPow(x, s float64) float64 {
	return detExp(-float64(s * detLog(x)))
}

// detLog returns ln(x) for x > 0: x = m·2^e with m in [√½, √2), then
// ln m = 2·atanh(t), t = (m-1)/(m+1), |t| < 0.172, by its odd series.
func detLog(x float64) float64 {
	m, e := math.Frexp(x)
	if m < math.Sqrt2/2 {
		m, e = m*2, e-1
	}
	t := (m - 1) / (m + 1)
	t2 := float64(t * t)
	sum, term := 0.0, t
	for k := 1.0; k < 41; k += 2 {
		sum += term / k
		term = float64(term * t2)
	}
	return float64(2*sum) + float64(float64(e)*math.Ln2)
}

// detExp returns e^y for moderate y: y = n·ln2 + r with |r| <= ln2/2, then
// e^r by its Taylor series and an exact scaling by 2^n.
func detExp(y float64) float64 {
	n := math.Round(y / math.Ln2)
	r := y - float64(n*math.Ln2)
	sum, term := 1.0, 1.0
	for k := 1.0; k < 25; k++ {
		term = float64(term*r) / k
		sum += term
	}
	return math.Ldexp(sum, int(n))
}
