package codec_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

func eq[T comparable](a, b T) bool { return a == b }

func eqFloat64(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func eqFloat32(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func eqTime(a, b time.Time) bool { return a.Equal(b) }

func eqDeep[T any](a, b T) bool { return reflect.DeepEqual(a, b) }

// eqSlice treats nil and empty as equal: decoded slices are never nil.
func eqSlice[E any](el func(a, b E) bool) func(a, b []E) bool {
	return func(a, b []E) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !el(a[i], b[i]) {
				return false
			}
		}
		return true
	}
}

// isDecodeErr reports whether err is a documented Decode failure.
func isDecodeErr(err error) bool {
	return errors.Is(err, codec.ErrCorrupt) || errors.Is(err, codec.ErrTooLarge)
}

// roundTrip checks decode(encode(vs)) == vs, that encoding appends after
// existing bytes, and that every truncation and any trailing byte fail.
func roundTrip[T any](t *testing.T, c codec.Codec[T], vs []T, el func(a, b T) bool) {
	t.Helper()
	enc := c.Append(nil, vs)
	got, err := c.Decode(enc)
	if err != nil {
		t.Fatalf("Decode(%x): %v", enc, err)
	}
	if !eqSlice(el)(got, vs) {
		t.Fatalf("round trip: got %v, want %v", got, vs)
	}
	prefixed := c.Append([]byte("xyz"), vs)
	if !bytes.Equal(prefixed[3:], enc) || string(prefixed[:3]) != "xyz" {
		t.Fatalf("Append does not append: %x vs %x", prefixed, enc)
	}
	checkTruncations(t, c, enc)
}

func checkTruncations[T any](t *testing.T, c codec.Codec[T], enc []byte) {
	t.Helper()
	for i := range enc {
		if _, err := c.Decode(enc[:i]); !isDecodeErr(err) {
			t.Fatalf("Decode of %d/%d bytes: err = %v, want ErrCorrupt", i, len(enc), err)
		}
	}
	trailing := append(enc[:len(enc):len(enc)], 0)
	if _, err := c.Decode(trailing); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("Decode with a trailing byte: err = %v, want ErrCorrupt", err)
	}
}

type (
	userID  string
	score   float64
	counter uint16
	blob    []byte
)

// rec exercises the CBOR fallback.
type rec struct {
	Name  string
	N     int64
	F     float64
	B     []byte
	Tags  []string
	M     map[string]int
	P     *int
	T     time.Time
	Inner struct{ X uint8 }
}

func eqRec(a, b rec) bool {
	if !a.T.Equal(b.T) {
		return false
	}
	a.T, b.T = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func recs() []rec {
	seven := 7
	return []rec{
		{},
		{Name: "a", N: math.MinInt64, F: -0.5, B: []byte{}, Tags: []string{}, M: map[string]int{}},
		{Name: "héllo", N: math.MaxInt64, F: math.Inf(1), B: []byte{0, 1}, Tags: []string{"x", ""},
			M: map[string]int{"b": 2, "a": 1}, P: &seven, T: time.Unix(1700000000, 123456789).UTC()},
		{T: time.Date(2024, 2, 29, 1, 2, 3, 4, time.FixedZone("", 3600))},
		// Go strings may hold invalid UTF-8; CBOR text must still carry it.
		{Name: "\xff\xfe", Tags: []string{"\xc3"}, M: map[string]int{"\x80": 1}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, cases := range []map[string]func(*testing.T){scalarCases(), compositeCases()} {
		for name, test := range cases {
			t.Run(name, test)
		}
	}
}

func scalarCases() map[string]func(*testing.T) {
	t0 := time.Unix(1700000000, 999999999)
	return map[string]func(t *testing.T){
		"string": func(t *testing.T) {
			roundTrip(t, codec.For[string](), []string{"", "a", strings.Repeat("x", 300), "h\x00é"}, eq)
		},
		"bytes": func(t *testing.T) {
			roundTrip(t, codec.For[[]byte](), [][]byte{nil, {}, {0}, bytes.Repeat([]byte{0xff}, 200)}, bytes.Equal)
		},
		"bool":  func(t *testing.T) { roundTrip(t, codec.For[bool](), []bool{true, false, true}, eq) },
		"int":   func(t *testing.T) { roundTrip(t, codec.For[int](), []int{0, 1, -1, math.MinInt, math.MaxInt}, eq) },
		"int8":  func(t *testing.T) { roundTrip(t, codec.For[int8](), []int8{0, -1, math.MinInt8, math.MaxInt8}, eq) },
		"int16": func(t *testing.T) { roundTrip(t, codec.For[int16](), []int16{0, math.MinInt16, math.MaxInt16}, eq) },
		"int32": func(t *testing.T) { roundTrip(t, codec.For[int32](), []int32{0, math.MinInt32, math.MaxInt32}, eq) },
		"int64": func(t *testing.T) {
			roundTrip(t, codec.For[int64](), []int64{0, -64, 64, math.MinInt64, math.MaxInt64}, eq)
		},
		"uint":  func(t *testing.T) { roundTrip(t, codec.For[uint](), []uint{0, 127, 128, math.MaxUint}, eq) },
		"uint8": func(t *testing.T) { roundTrip(t, codec.For[uint8](), []uint8{0, 255}, eq) },
		"uint16": func(t *testing.T) {
			roundTrip(t, codec.For[uint16](), []uint16{0, math.MaxUint16}, eq)
		},
		"uint32": func(t *testing.T) {
			roundTrip(t, codec.For[uint32](), []uint32{0, math.MaxUint32}, eq)
		},
		"uint64": func(t *testing.T) {
			roundTrip(t, codec.For[uint64](), []uint64{0, 1 << 63, math.MaxUint64}, eq)
		},
		"uintptr": func(t *testing.T) { roundTrip(t, codec.For[uintptr](), []uintptr{0, 1 << 20}, eq) },
		"float32": func(t *testing.T) {
			roundTrip(t, codec.For[float32](), []float32{0, float32(math.Copysign(0, -1)), 1.5,
				float32(math.NaN()), float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32}, eqFloat32)
		},
		"float64": func(t *testing.T) {
			roundTrip(t, codec.For[float64](), []float64{0, math.Copysign(0, -1), 1.5, math.NaN(),
				math.Float64frombits(0x7ff0000000000123), math.Inf(1), math.MaxFloat64}, eqFloat64)
		},
		"time": func(t *testing.T) {
			roundTrip(t, codec.For[time.Time](), []time.Time{{}, t0, t0.In(time.FixedZone("x", -7200)),
				time.Unix(-1<<40, 1), time.Unix(math.MaxInt64, 999999999), time.Unix(math.MinInt64, 0)}, eqTime)
		},
		"duration": func(t *testing.T) {
			roundTrip(t, codec.For[time.Duration](), []time.Duration{0, -time.Second, math.MaxInt64}, eq)
		},
		"named": testNamed,
		"empty": func(t *testing.T) { roundTrip(t, codec.For[string](), nil, eq) },
	}
}

func compositeCases() map[string]func(*testing.T) {
	return map[string]func(t *testing.T){
		"pair": func(t *testing.T) {
			roundTrip(t, codec.For[KV[string, int64]](),
				[]KV[string, int64]{{"", 0}, {"a", math.MinInt64}, {"bb", math.MaxInt64}}, eq)
		},
		"nested pair": func(t *testing.T) {
			roundTrip(t, codec.For[KV[KV[int8, bool], time.Duration]](),
				[]KV[KV[int8, bool], time.Duration]{{KV[int8, bool]{-3, true}, 5}}, eq)
		},
		"slice": func(t *testing.T) {
			roundTrip(t, codec.Slice(codec.For[string]()), [][]string{nil, {}, {""}, {"a", "bc"}}, eqSlice(eq[string]))
		},
		"pair with slice": func(t *testing.T) {
			c := codec.Pair(codec.For[string](), codec.Slice(codec.For[float64]()),
				func(kv KV[string, []float64]) (string, []float64) { return kv.Key, kv.Value },
				func(k string, v []float64) KV[string, []float64] { return KV[string, []float64]{k, v} })
			roundTrip(t, c, []KV[string, []float64]{{"a", []float64{1, math.NaN()}}, {"", nil}}, eqKVFloats)
		},
		"foreign codec in pair": func(t *testing.T) {
			c := codec.Pair[string, int64](foreign[string]{codec.For[string]()}, foreign[int64]{codec.For[int64]()},
				func(kv KV[string, int64]) (string, int64) { return kv.Key, kv.Value },
				func(k string, v int64) KV[string, int64] { return KV[string, int64]{k, v} })
			roundTrip(t, c, []KV[string, int64]{{"a", 1}, {"", -1}}, eq)
		},
		"convert": func(t *testing.T) { roundTrip(t, codec.For[secret](), secrets(), eqSecret) },
		"convert scalar": func(t *testing.T) {
			c := codec.Convert(codec.For[int64](), time.Duration.Nanoseconds,
				func(n int64) time.Duration { return time.Duration(n) })
			roundTrip(t, c, []time.Duration{0, -time.Second, math.MaxInt64}, eq)
			if !bytes.Equal(c.Append(nil, []time.Duration{5}), codec.For[int64]().Append(nil, []int64{5})) {
				t.Fatal("Convert adds bytes to its wire form")
			}
		},
		"struct": func(t *testing.T) { roundTrip(t, codec.For[rec](), recs(), eqRec) },
		"struct pointer": func(t *testing.T) {
			r := recs()[2]
			roundTrip(t, codec.For[*rec](), []*rec{&r}, func(a, b *rec) bool { return eqRec(*a, *b) })
		},
		"array": func(t *testing.T) { roundTrip(t, codec.For[[3]int](), [][3]int{{1, 2, 3}, {}}, eq) },
		"any":   func(t *testing.T) { roundTrip(t, codec.For[any](), []any{nil, "a", uint64(3), true}, eqDeep) },
	}
}

func testNamed(t *testing.T) {
	roundTrip(t, codec.For[userID](), []userID{"", "u1"}, eq)
	roundTrip(t, codec.For[score](), []score{1.25, score(math.Inf(-1))}, eq)
	roundTrip(t, codec.For[counter](), []counter{0, math.MaxUint16}, eq)
	roundTrip(t, codec.For[blob](), []blob{nil, {1, 2}}, func(a, b blob) bool { return bytes.Equal(a, b) })
	// Named types encode exactly like their underlying type.
	if a, b := codec.For[userID]().Append(nil, []userID{"abc"}), codec.For[string]().Append(nil, []string{"abc"}); !bytes.Equal(a, b) {
		t.Fatalf("userID encodes as %x, string as %x", a, b)
	}
}

func eqKVFloats(a, b KV[string, []float64]) bool {
	return a.Key == b.Key && eqSlice(eqFloat64)(a.Value, b.Value)
}

// foreign hides the codec's package identity, as a codec from another
// package would.
type foreign[T any] struct{ codec.Codec[T] }

func TestForCaches(t *testing.T) {
	if codec.For[KV[string, int]]() != codec.For[KV[string, int]]() {
		t.Fatal("For built two codecs for one type")
	}
}

func TestForRejectsUnencodableTypes(t *testing.T) {
	mustPanic(t, func() { codec.For[chan int]() })
	mustPanic(t, func() { codec.For[func()]() })
	mustPanic(t, func() { codec.For[struct{ C chan int }]() })
	mustPanic(t, func() { codec.For[complex128]() })
	mustPanic(t, func() { codec.For[badComposite]() })
}

type badComposite struct{}

func (badComposite) SluiceCodec() any { return codec.For[string]() }

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	f()
}

func TestStructFallbackIsCBORArray(t *testing.T) {
	enc := codec.For[rec]().Append(nil, make([]rec, 30))
	if enc[0] != 0x98 || enc[1] != 30 { // array, one-byte length
		t.Fatalf("head %x, want 98 1e", enc[:2])
	}
}

// TestFallbackRejectsUnencodableRecords: the CBOR decoder accepts times that
// the encoder cannot write (RFC 3339 has 4-digit years); Decode must reject
// them rather than return records on which Append would panic.
func TestFallbackRejectsUnencodableRecords(t *testing.T) {
	bigSecs := []byte{0x1b, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0} // 1e12 seconds: year 33658
	structIn := append([]byte{0x81, 0xa1, 0x61, 'T'}, bigSecs...)
	if _, err := codec.For[rec]().Decode(structIn); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("struct with year 33658: err = %v, want ErrCorrupt", err)
	}
	anyIn := append([]byte{0x81, 0xc1}, bigSecs...) // tag 1 (epoch time)
	if _, err := codec.For[any]().Decode(anyIn); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("any with year 33658: err = %v, want ErrCorrupt", err)
	}
}
