package codec

import (
	"math"
	"reflect"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Hasher returns a deterministic 64-bit hash for keys of type K: the same
// key hashes to the same value in every process, run, platform and version
// of Sluice, because the hash decides which partition a key goes to, and
// shuffle writers, state checkpoints and workers of different builds must
// agree. NEVER CHANGE THESE HASHES (TestHasherGolden guards them); a new
// scheme needs a new function.
//
// The scheme is chosen once, here, by the kind of K:
//   - strings (and named string types): xxhash.Sum64String;
//   - integers and bools: the splitmix64 finalizer of the value, with signed
//     values sign-extended to 64 bits;
//   - floats: the same finalizer of the float64 bits, with -0 hashed as +0
//     and every NaN as one NaN;
//   - Composite types and everything else: xxhash.Sum64 of the key's record
//     encoding in For[K] (without the batch count). Struct keys therefore hash
//     their exported fields through deterministic CBOR; a float field equal
//     to -0 hashes differently from +0 there, so avoid float fields in keys.
//     A key type that is not Portable (a struct with unexported fields and
//     no SluiceCodec) still hashes, for local mode, by its exported fields
//     alone, as it always has: equal keys hash equally, which is all that
//     placing keys needs, but keys that differ only in unexported fields
//     always share a partition (which can skew partitions). Such keys cannot
//     be shuffled between processes anyway: their codec refuses to encode.
//
// Equal keys hash equally; the function is safe for concurrent use.
func Hasher[K comparable]() func(K) uint64 {
	if _, ok := any(*new(K)).(Composite); !ok {
		if h := kindHasher[K](reflect.TypeFor[K]()); h != nil {
			return h
		}
	}
	return encodedHasher[K]()
}

// kindHasher returns the fast hash for K's kind, or nil.
func kindHasher[K comparable](rt reflect.Type) func(K) uint64 {
	switch rt.Kind() {
	case reflect.String:
		return func(k K) uint64 { return xxhash.Sum64String(as[string](k)) }
	case reflect.Bool:
		return func(k K) uint64 { return hashBool(as[bool](k)) }
	case reflect.Int:
		return hashSigned[K, int]
	case reflect.Int8:
		return hashSigned[K, int8]
	case reflect.Int16:
		return hashSigned[K, int16]
	case reflect.Int32:
		return hashSigned[K, int32]
	case reflect.Int64:
		return hashSigned[K, int64]
	case reflect.Uint:
		return hashUnsigned[K, uint]
	case reflect.Uint8:
		return hashUnsigned[K, uint8]
	case reflect.Uint16:
		return hashUnsigned[K, uint16]
	case reflect.Uint32:
		return hashUnsigned[K, uint32]
	case reflect.Uint64:
		return hashUnsigned[K, uint64]
	case reflect.Uintptr:
		return hashUnsigned[K, uintptr]
	case reflect.Float32:
		return func(k K) uint64 { return hashFloat(float64(as[float32](k))) }
	case reflect.Float64:
		return func(k K) uint64 { return hashFloat(as[float64](k)) }
	}
	return nil
}

func hashSigned[K any, U signed](k K) uint64 { return mix64(uint64(int64(as[U](k)))) }

func hashUnsigned[K any, U unsigned](k K) uint64 { return mix64(uint64(as[U](k))) }

func hashBool(b bool) uint64 {
	if b {
		return mix64(1)
	}
	return mix64(0)
}

func hashFloat(f float64) uint64 {
	switch {
	case f == 0:
		f = 0 // -0 == +0
	case f != f:
		f = math.NaN()
	}
	return mix64(math.Float64bits(f))
}

// mix64 is splitmix64's step: add the golden gamma (so 0 does not hash to
// 0), then the finalizer (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", 2014), which spreads every input bit.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// maxPooledHashBuf keeps one huge key from pinning a huge buffer.
const maxPooledHashBuf = 64 << 10

// encodedHasher hashes the For[K] record encoding of k. It uses the
// codec's elem directly, which encodes even when the codec is not portable.
func encodedHasher[K comparable]() func(K) uint64 {
	e := elemOf(For[K]())
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}
	return func(k K) uint64 {
		bp := pool.Get().(*[]byte)
		b := e.appendOne((*bp)[:0], k)
		h := xxhash.Sum64(b)
		if cap(b) <= maxPooledHashBuf {
			*bp = b
			pool.Put(bp)
		}
		return h
	}
}
