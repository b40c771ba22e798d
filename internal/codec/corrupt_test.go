package codec_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// decodeAny decodes b with any of the package's codecs, for table tests.
type decoder func([]byte) error

func dec[T any](c codec.Codec[T]) decoder {
	return func(b []byte) error { _, err := c.Decode(b); return err }
}

func TestCorrupt(t *testing.T) {
	pad := []byte("0123456789")
	huge := append(uv(1e9), pad...)
	tests := []struct {
		name string
		dec  decoder
		in   []byte
		want error
	}{
		{"empty string batch", dec(codec.For[string]()), nil, codec.ErrCorrupt},
		{"huge count string", dec(codec.For[string]()), huge, codec.ErrCorrupt},
		{"huge count int64", dec(codec.For[int64]()), huge, codec.ErrCorrupt},
		{"huge count float64", dec(codec.For[float64]()), append(uv(2), pad...), codec.ErrCorrupt},
		{"huge count pair", dec(codec.For[KV[string, int64]]()), huge, codec.ErrCorrupt},
		{"huge count slice", dec(codec.Slice(codec.For[string]())), huge, codec.ErrCorrupt},
		{"huge count struct", dec(codec.For[rec]()), append([]byte{0x9a, 0x3b, 0x9a, 0xca, 0}, pad...), codec.ErrCorrupt},
		{"huge string length", dec(codec.For[string]()), append(uv(1, 1<<40), pad...), codec.ErrCorrupt},
		{"huge bytes length", dec(codec.For[[]byte]()), append(uv(1, 11), pad...), codec.ErrCorrupt},
		{"huge slice length", dec(codec.Slice(codec.For[int8]())), append(uv(1, 1<<62), pad...), codec.ErrCorrupt},
		{"huge count convert", dec(codec.For[secret]()), huge, codec.ErrCorrupt},
		{"convert bad wire", dec(codec.For[secret]()), uv(1, 2, 1, 1), codec.ErrCorrupt},
		{"varint overflow", dec(codec.For[uint64]()), uv(1, 1<<63, 1<<63)[:1+10+1], codec.ErrCorrupt},
		{"11-byte varint", dec(codec.For[uint64]()), append(uv(1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), codec.ErrCorrupt},
		{"int8 overflow", dec(codec.For[int8]()), binary.AppendVarint(uv(1), 128), codec.ErrCorrupt},
		{"uint16 overflow", dec(codec.For[uint16]()), uv(1, 1<<16), codec.ErrCorrupt},
		{"bool 2", dec(codec.For[bool]()), []byte{1, 2}, codec.ErrCorrupt},
		{"time nanos", dec(codec.For[time.Time]()), uv(1, 0, 1e9), codec.ErrCorrupt},
		{"struct not array", dec(codec.For[rec]()), []byte{0xa0}, codec.ErrCorrupt},
		{"struct indefinite array", dec(codec.For[rec]()), []byte{0x9f, 0xff}, codec.ErrCorrupt},
		{"struct bad item", dec(codec.For[rec]()), []byte{0x81, 0x1c}, codec.ErrCorrupt},
		{"struct wrong type", dec(codec.For[rec]()), []byte{0x81, 0x61, 'x'}, codec.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.dec(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x): err = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	small := codec.Limits{MaxRecords: 2, MaxBytes: 64, MaxElemBytes: 4, MaxDepth: 4}
	str := codec.WithLimits(codec.For[string](), small)
	nested := []byte{0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0}
	tests := []struct {
		name string
		dec  decoder
		in   []byte
	}{
		{"records", dec(str), codec.For[string]().Append(nil, []string{"a", "b", "c"})},
		{"bytes", dec(str), make([]byte, 65)},
		{"string length", dec(str), codec.For[string]().Append(nil, []string{"abcde"})},
		{"bytes length", dec(codec.WithLimits(codec.For[[]byte](), small)), uv(1, 5, 1, 2, 3, 4, 5)},
		{"slice length", dec(codec.WithLimits(codec.Slice(codec.For[bool]()), small)), uv(1, 3, 1, 1, 1)},
		{"pair string", dec(codec.WithLimits(codec.For[KV[string, bool]](), small)), append(uv(1, 5), "abcde\x01"...)},
		{"cbor depth", dec(codec.WithLimits(codec.For[any](), small)), nested},
		{"cbor element bytes", dec(codec.WithLimits(codec.For[rec](), small)), codec.For[rec]().Append(nil, []rec{{Name: "abcdef"}})},
		{"foreign bytes", dec(codec.WithLimits[int](foreign[int]{codec.For[int]()}, small)), make([]byte, 65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.dec(tt.in); !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("Decode(%x): err = %v, want ErrTooLarge", tt.in, err)
			}
		})
	}
	// Within limits still decodes, and zero fields mean the defaults.
	if _, err := codec.WithLimits(codec.For[string](), codec.Limits{MaxRecords: 2}).Decode(
		codec.For[string]().Append(nil, []string{strings.Repeat("x", 1000), "b"})); err != nil {
		t.Fatal(err)
	}
}

func TestErrorNamesTypeAndOffset(t *testing.T) {
	_, err := codec.For[KV[string, int64]]().Decode(append(uv(2, 1), 'a', 2, 9))
	if err == nil || !strings.Contains(err.Error(), "KV[string,int64]") || !strings.Contains(err.Error(), "offset 4") {
		t.Fatalf("err = %v, want type name and offset 4", err)
	}
}

// TestGarbage decodes seeded random bytes with every decoder; failures must
// be errors wrapping ErrCorrupt or ErrTooLarge, never panics.
func TestGarbage(t *testing.T) {
	decoders := map[string]decoder{
		"string": dec(codec.For[string]()), "bytes": dec(codec.For[[]byte]()),
		"bool": dec(codec.For[bool]()), "int8": dec(codec.For[int8]()),
		"int64": dec(codec.For[int64]()), "uint32": dec(codec.For[uint32]()),
		"float32": dec(codec.For[float32]()), "float64": dec(codec.For[float64]()),
		"time": dec(codec.For[time.Time]()), "pair": dec(codec.For[KV[string, int64]]()),
		"slice": dec(codec.Slice(codec.For[string]())), "struct": dec(codec.For[rec]()),
		"any": dec(codec.For[any]()), "convert": dec(codec.For[secret]()),
	}
	const seed = 1
	rng := rand.New(rand.NewPCG(seed, seed))
	for name, d := range decoders {
		for i := 0; i < 2000; i++ {
			b := make([]byte, rng.IntN(40))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if len(b) > 0 && rng.IntN(2) == 0 {
				b[0] = byte(rng.IntN(4)) // plausible counts reach the elements
			}
			if err := d(b); err != nil && !isDecodeErr(err) {
				t.Fatalf("%s (seed %d): Decode(%x): unexpected error %v", name, seed, b, err)
			}
		}
	}
}
