package codec_test

import (
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"pgregory.net/rapid"
)

// prop checks decode(encode(vs)) == vs for generated batches, including
// empty ones, and that every truncation fails.
func prop[T any](c codec.Codec[T], g *rapid.Generator[T], el func(a, b T) bool) func(*testing.T) {
	return func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			vs := rapid.SliceOf(g).Draw(t, "vs")
			enc := c.Append(nil, vs)
			got, err := c.Decode(enc)
			if err != nil {
				t.Fatalf("Decode(%x): %v", enc, err)
			}
			if !eqSlice(el)(got, vs) {
				t.Fatalf("got %v, want %v", got, vs)
			}
			if n := rapid.IntRange(0, len(enc)-1).Draw(t, "cut"); n < len(enc) {
				if _, err := c.Decode(enc[:n]); !isDecodeErr(err) {
					t.Fatalf("Decode of %d/%d bytes: err = %v", n, len(enc), err)
				}
			}
		})
	}
}

// anyFloat64 draws ordinary values and arbitrary bit patterns (NaNs with
// payloads, infinities, -0, subnormals).
func anyFloat64() *rapid.Generator[float64] {
	bits := rapid.Map(rapid.Uint64(), math.Float64frombits)
	return rapid.OneOf(rapid.Float64(), bits, rapid.SampledFrom([]float64{math.NaN(), math.Copysign(0, -1)}))
}

func anyTime() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64().Draw(t, "sec"), rapid.Int64Range(0, 1e9-1).Draw(t, "nsec"))
	})
}

func kvString() *rapid.Generator[KV[string, int64]] {
	return rapid.Custom(func(t *rapid.T) KV[string, int64] {
		return KV[string, int64]{rapid.String().Draw(t, "k"), rapid.Int64().Draw(t, "v")}
	})
}

func TestProperties(t *testing.T) {
	t.Run("string", prop(codec.For[string](), rapid.String(), eq))
	t.Run("bytes", prop(codec.For[[]byte](), rapid.SliceOf(rapid.Byte()), eqSlice(eq[byte])))
	t.Run("bool", prop(codec.For[bool](), rapid.Bool(), eq))
	t.Run("int", prop(codec.For[int](), rapid.Int(), eq))
	t.Run("int8", prop(codec.For[int8](), rapid.Int8(), eq))
	t.Run("int16", prop(codec.For[int16](), rapid.Int16(), eq))
	t.Run("int32", prop(codec.For[int32](), rapid.Int32(), eq))
	t.Run("int64", prop(codec.For[int64](), rapid.Int64(), eq))
	t.Run("uint", prop(codec.For[uint](), rapid.Uint(), eq))
	t.Run("uint8", prop(codec.For[uint8](), rapid.Uint8(), eq))
	t.Run("uint16", prop(codec.For[uint16](), rapid.Uint16(), eq))
	t.Run("uint32", prop(codec.For[uint32](), rapid.Uint32(), eq))
	t.Run("uint64", prop(codec.For[uint64](), rapid.Uint64(), eq))
	t.Run("float32", prop(codec.For[float32](), rapid.Map(rapid.Uint32(), math.Float32frombits), eqFloat32))
	t.Run("float64", prop(codec.For[float64](), anyFloat64(), eqFloat64))
	t.Run("time", prop(codec.For[time.Time](), anyTime(), eqTime))
	t.Run("duration", prop(codec.For[time.Duration](), rapid.Map(rapid.Int64(), func(v int64) time.Duration { return time.Duration(v) }), eq))
	t.Run("named", prop(codec.For[userID](), rapid.Map(rapid.String(), func(s string) userID { return userID(s) }), eq))
	t.Run("pair", prop(codec.For[KV[string, int64]](), kvString(), eq))
	t.Run("slice", prop(codec.Slice(codec.For[string]()), rapid.SliceOf(rapid.String()), eqSlice(eq[string])))
	t.Run("slice of pairs", prop(codec.Slice(codec.For[KV[string, int64]]()), rapid.SliceOf(kvString()), eqSlice(eq[KV[string, int64]])))
	t.Run("struct", prop(codec.For[rec](), genRec(), eqRec))
	t.Run("convert", prop(codec.For[secret](), rapid.Custom(func(t *rapid.T) secret {
		return secret{id: rapid.Int64().Draw(t, "id"), tags: rapid.SliceOf(rapid.String()).Draw(t, "tags")}
	}), eqSecret))
}

func genRec() *rapid.Generator[rec] {
	return rapid.Custom(func(t *rapid.T) rec {
		r := rec{
			Name: rapid.String().Draw(t, "name"),
			N:    rapid.Int64().Draw(t, "n"),
			F:    rapid.Float64().Draw(t, "f"),
			B:    rapid.SliceOf(rapid.Byte()).Draw(t, "b"),
			Tags: rapid.SliceOf(rapid.String()).Draw(t, "tags"),
			M:    rapid.MapOf(rapid.String(), rapid.Int()).Draw(t, "m"),
			T:    time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "sec"), rapid.Int64Range(0, 1e9-1).Draw(t, "ns")).UTC(),
		}
		r.Inner.X = rapid.Uint8().Draw(t, "x")
		if rapid.Bool().Draw(t, "has p") {
			p := rapid.Int().Draw(t, "p")
			r.P = &p
		}
		return r
	})
}
