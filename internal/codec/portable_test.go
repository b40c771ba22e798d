package codec_test

import (
	"errors"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

type (
	hidden struct{ a int }
	nested struct{ In []map[string]*hidden }
	dashed struct {
		A int
		B int `json:"-"`
	}
	dashedCBOR struct {
		A int `cbor:"-" json:"a"`
	}
	promoted    struct{ Inner }
	Inner       struct{ X int }
	embedded    struct{ inner }
	inner       struct{ X int }
	embeddedBad struct{ hiddenInner }
	hiddenInner struct{ x int }
	embeddedPtr struct{ *inner }
	stamped     struct {
		time.Time
		N int
	}
	ownBinary struct {
		time.Time
		N int
	}
	recursive struct {
		Next *recursive
		Kids []recursive
	}
	selfMarshal struct {
		Addr netip.Addr
		Big  big.Int
		T    time.Time
		Any  any
	}
	// secret has unexported fields and a SluiceCodec that carries them.
	secret struct {
		id   int64
		tags []string
	}
)

func (o ownBinary) MarshalBinary() ([]byte, error) { return nil, nil }

func (o *ownBinary) UnmarshalBinary([]byte) error { return nil }

// binaryPoint carries its unexported fields with MarshalBinary.
type binaryPoint struct{ x, y int8 }

func (p binaryPoint) MarshalBinary() ([]byte, error) { return []byte{byte(p.x), byte(p.y)}, nil }

func (p *binaryPoint) UnmarshalBinary(b []byte) error {
	if len(b) != 2 {
		return errors.New("binaryPoint: want 2 bytes")
	}
	p.x, p.y = int8(b[0]), int8(b[1])
	return nil
}

// halfBinary can encode but not decode itself.
type halfBinary struct{ x int }

func (halfBinary) MarshalBinary() ([]byte, error) { return nil, nil }

func (secret) SluiceCodec() any {
	return codec.Convert(codec.Pair(codec.For[int64](), codec.Slice(codec.For[string]()),
		func(kv KV[int64, []string]) (int64, []string) { return kv.Key, kv.Value },
		func(k int64, v []string) KV[int64, []string] { return KV[int64, []string]{k, v} }),
		func(s secret) KV[int64, []string] { return KV[int64, []string]{s.id, s.tags} },
		func(kv KV[int64, []string]) secret { return secret{kv.Key, kv.Value} })
}

// notPortable checks that c refuses to encode and decode, with an error
// wrapping ErrNotPortable that says want.
func notPortable[T any](t *testing.T, c codec.Codec[T], want string) {
	t.Helper()
	err := codec.Portable(c)
	if !errors.Is(err, codec.ErrNotPortable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Portable = %v, want ErrNotPortable saying %q", err, want)
	}
	if _, derr := c.Decode([]byte{0}); !errors.Is(derr, codec.ErrNotPortable) {
		t.Fatalf("Decode: err = %v, want ErrNotPortable", derr)
	}
	defer func() {
		r := recover()
		if perr, ok := r.(error); !ok || !errors.Is(perr, codec.ErrNotPortable) {
			t.Fatalf("Append panicked with %v, want ErrNotPortable", r)
		}
	}()
	c.Append(nil, make([]T, 1))
	t.Fatal("Append did not panic")
}

func TestNotPortable(t *testing.T) {
	notPortable(t, codec.For[hidden](),
		"codec: type codec_test.hidden has unexported field a and no SluiceCodec: it cannot leave the process "+
			"(export the field, or give the type MarshalBinary and UnmarshalBinary methods)")
	notPortable(t, codec.For[*hidden](), "has unexported field a")
	notPortable(t, codec.For[nested](), "type codec_test.hidden has unexported field a and no SluiceCodec: "+
		"it cannot leave the process (record type codec_test.nested, at .In[][])")
	notPortable(t, codec.For[halfBinary](), "has MarshalBinary but no UnmarshalBinary")
	notPortable(t, codec.For[map[hidden]int](), "at [key]")
	notPortable(t, codec.For[[2]hidden](), "unexported field a")
	notPortable(t, codec.For[dashed](), `field B tagged "-"`)
	notPortable(t, codec.For[dashedCBOR](), `field A tagged "-"`)
	notPortable(t, codec.For[embeddedBad](), "hiddenInner has unexported field x")
	notPortable(t, codec.For[embeddedPtr](), "embeds pointer")
	notPortable(t, codec.For[stamped](), "gets MarshalBinary from its embedded field Time")
	// Composites and combinators built on a codec that is not portable are
	// not portable either.
	notPortable(t, codec.For[KV[string, hidden]](), "hidden has unexported field a")
	notPortable(t, codec.Slice(codec.For[hidden]()), "hidden has unexported field a")
	notPortable(t, codec.WithLimits(codec.For[hidden](), codec.Limits{}), "hidden has unexported field a")
	// A SluiceCodec is not used inside a CBOR-encoded type.
	notPortable(t, codec.For[[]secret](), "secret has unexported field id")
}

func TestPortable(t *testing.T) {
	for name, err := range map[string]error{
		"rec":                 codec.Portable(codec.For[rec]()),
		"promoted embedded":   codec.Portable(codec.For[promoted]()),
		"unexported embedded": codec.Portable(codec.For[embedded]()),
		"own MarshalBinary":   codec.Portable(codec.For[ownBinary]()),
		"recursive":           codec.Portable(codec.For[recursive]()),
		"self-marshaled":      codec.Portable(codec.For[selfMarshal]()),
		"composite":           codec.Portable(codec.For[secret]()),
		"MarshalBinary":       codec.Portable(codec.For[[]binaryPoint]()),
		"pair of composite":   codec.Portable(codec.For[KV[string, secret]]()),
		"scalar":              codec.Portable(codec.For[int]()),
		"foreign":             codec.Portable[int](foreign[int]{codec.For[int]()}),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	roundTrip(t, codec.For[embedded](), []embedded{{inner{3}}}, eq)
	roundTrip(t, codec.For[secret](), secrets(), eqSecret)
	roundTrip(t, codec.For[binaryPoint](), []binaryPoint{{-1, 2}, {}}, eq)
}

func secrets() []secret {
	return []secret{{}, {id: -1, tags: []string{"a", ""}}, {id: math.MaxInt64, tags: []string{}}}
}

func eqSecret(a, b secret) bool { return a.id == b.id && eqSlice(eq[string])(a.tags, b.tags) }

// TestHasherNotPortable: keys that cannot leave the process still hash (in
// local mode), by their exported fields as before: equal keys hash equally,
// and keys that differ only in unexported fields collide.
func TestHasherNotPortable(t *testing.T) {
	type key struct {
		A string
		b int
	}
	h := codec.Hasher[key]()
	if h(key{"x", 1}) != h(key{"x", 2}) || h(key{"x", 1}) == h(key{"y", 1}) {
		t.Fatal("keys with unexported fields hash wrongly")
	}
	type exported struct{ A string }
	if h(key{"x", 1}) != codec.Hasher[exported]()(exported{"x"}) {
		t.Fatal("the hash of a key with unexported fields changed")
	}
}
