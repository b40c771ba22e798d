package codec_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

// fuzzDecode seeds f with valid encodings of seeds and checks that Decode
// never panics, fails only with the documented errors, and that whatever it
// accepts re-encodes to bytes that decode to the same records (compared by
// their canonical re-encoding, which handles NaN and time zones).
func fuzzDecode[T any](f *testing.F, c codec.Codec[T], seeds ...[]T) {
	for _, s := range seeds {
		f.Add(c.Append(nil, s))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := c.Decode(b)
		if err != nil {
			if !isDecodeErr(err) {
				t.Fatalf("Decode(%x): undocumented error %v", b, err)
			}
			return
		}
		enc := c.Append(nil, vs)
		again, err := c.Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding %x (from %x): %v", enc, b, err)
		}
		if enc2 := c.Append(nil, again); !bytes.Equal(enc, enc2) || len(again) != len(vs) {
			t.Fatalf("round trip changed the records: %x then %x", enc, enc2)
		}
	})
}

func FuzzDecodeString(f *testing.F) {
	fuzzDecode(f, codec.For[string](), nil, []string{""}, []string{"a", "héllo", "\xff"})
}

func FuzzDecodeBytes(f *testing.F) {
	fuzzDecode(f, codec.For[[]byte](), [][]byte{nil, {0}}, [][]byte{[]byte("abc")})
}

func FuzzDecodeInt64(f *testing.F) {
	fuzzDecode(f, codec.For[int64](), []int64{0, -1, 1, math.MinInt64, math.MaxInt64})
}

func FuzzDecodeFloat64(f *testing.F) {
	fuzzDecode(f, codec.For[float64](), []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(-1), 1.5})
}

func FuzzDecodePair(f *testing.F) {
	fuzzDecode(f, codec.For[KV[string, int64]](), []KV[string, int64]{{"", 0}, {"a", -5}, {"bc", math.MaxInt64}})
}

func FuzzDecodeSlice(f *testing.F) {
	fuzzDecode(f, codec.Slice(codec.For[string]()), [][]string{nil, {""}, {"a", "bc"}})
}

func FuzzDecodeConvert(f *testing.F) {
	fuzzDecode(f, codec.For[secret](), secrets())
}

func FuzzDecodeStruct(f *testing.F) {
	// A record whose time, given as 1e12 Unix seconds, cannot be encoded.
	f.Add([]byte{0x81, 0xa1, 0x61, 'T', 0x1b, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0})
	fuzzDecode(f, codec.For[rec](), recs())
}

// FuzzDecodeScalars covers the remaining fast paths; the first byte picks
// the codec.
func FuzzDecodeScalars(f *testing.F) {
	decs := []func(*testing.T, []byte){
		scalar(codec.For[bool]()), scalar(codec.For[int8]()), scalar(codec.For[int16]()),
		scalar(codec.For[int32]()), scalar(codec.For[int]()), scalar(codec.For[uint]()),
		scalar(codec.For[uint8]()), scalar(codec.For[uint16]()), scalar(codec.For[uint32]()),
		scalar(codec.For[uint64]()), scalar(codec.For[float32]()), scalar(codec.For[time.Time]()),
		scalar(codec.For[time.Duration]()), scalar(codec.For[any]()),
	}
	f.Add(byte(0), codec.For[bool]().Append(nil, []bool{true, false}))
	f.Add(byte(1), codec.For[int8]().Append(nil, []int8{-128, 127}))
	f.Add(byte(10), codec.For[float32]().Append(nil, []float32{1.5}))
	f.Add(byte(11), codec.For[time.Time]().Append(nil, []time.Time{time.Unix(1, 2)}))
	f.Add(byte(13), codec.For[any]().Append(nil, []any{"a", 1.5, []any{nil}}))
	f.Add(byte(13), []byte{0x81, 0xc1, 0x1b, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0})
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		decs[int(which)%len(decs)](t, b)
	})
}

func scalar[T any](c codec.Codec[T]) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		vs, err := c.Decode(b)
		if err != nil {
			if !isDecodeErr(err) {
				t.Fatalf("Decode(%x): undocumented error %v", b, err)
			}
			return
		}
		enc := c.Append(nil, vs)
		again, err := c.Decode(enc)
		if err != nil || !bytes.Equal(c.Append(nil, again), enc) {
			t.Fatalf("round trip of %x failed: %v", b, err)
		}
	}
}
