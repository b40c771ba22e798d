package nexmark

import "math/bits"

// Domains separate the random streams drawn from one seed.
const (
	domainEvent uint64 = iota + 1
	domainHotChannel
	domainColdChannel
)

// rng is a splitmix64 stream started from a hash of (seed, domain, i):
// each event draws from its own stream, so event i is the same however
// the events are split. (Beam seeds a java.util.Random with the event id
// for the same reason.)
type rng struct{ s uint64 }

func newRNG(seed, domain uint64, i int64) rng {
	return rng{s: mix(streamKey(seed, domain) ^ uint64(i))}
}

// streamKey is the part of newRNG's state that does not depend on i.
func streamKey(seed, domain uint64) uint64 { return mix(seed ^ domain*0x9e3779b97f4a7c15) }

// mix is splitmix64's finalizer.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// intn returns a number in [0, n), n > 0 (Lemire's multiply-shift; the
// bias, below n/2^64, does not matter here).
func (r *rng) intn(n int) int { return int(r.int63n(int64(n))) }

func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a number in [0, 1) with 53 random bits.
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
