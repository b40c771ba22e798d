package dataset

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// roundTrip encodes vs with T's record type and checks that they decode
// equal (reflect.DeepEqual), and that the type is portable.
func roundTrip[T any](t *testing.T, vs []T) {
	t.Helper()
	typ := RecordType[T]()
	if err := Portable(typ); err != nil {
		t.Fatal(err)
	}
	got, err := typ.Decode(typ.Encode(nil, vs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, vs) {
		t.Fatalf("round trip: got %+v, want %+v", got, vs)
	}
}

func TestInternalRecordsRoundTrip(t *testing.T) {
	roundTrip(t, []either[string, int]{{L: "a"}, {R: -3, IsRight: true}, {}})
	roundTrip(t, []KV[string, either[[]byte, time.Duration]]{{"k", either[[]byte, time.Duration]{L: []byte{1}}}})
	roundTrip(t, []dealt[KV[string, int]]{{To: 3, Rec: KV[string, int]{"x", 1}}, {}})
	roundTrip(t, []dealt[either[int, int]]{{To: 1, Rec: either[int, int]{R: 2, IsRight: true}}})
	roundTrip(t, []KV[string, [][]either[int, string]]{{"k", [][]either[int, string]{{{L: 1}}, {{R: "r", IsRight: true}}}}})
	roundTrip(t, []KV[int, Joined[Optional[string], []int]]{{1, Joined[Optional[string], []int]{Some("a"), []int{1}}}})
}

type local struct{ n int }

func TestPortable(t *testing.T) {
	if err := Portable(RecordType[KV[string, local]]()); !errors.Is(err, codec.ErrNotPortable) {
		t.Fatalf("Portable(KV[string, local]) = %v, want ErrNotPortable", err)
	}
	// Local mode works with any type: building the record type does not panic.
	if RecordType[local]().Name() != "dataset.local" {
		t.Fatal("wrong name")
	}
}

func fuzzRecords[T any](f *testing.F, seeds ...[]T) {
	typ := RecordType[T]()
	for _, s := range seeds {
		f.Add(typ.Encode(nil, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := typ.Decode(b)
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("Decode(%x): undocumented error %v", b, err)
			}
			return
		}
		enc := typ.Encode(nil, v)
		again, err := typ.Decode(enc)
		if err != nil || !bytes.Equal(typ.Encode(nil, again), enc) {
			t.Fatalf("round trip of %x failed: %v", b, err)
		}
	})
}

func FuzzDecodeEither(f *testing.F) {
	fuzzRecords(f, []KV[string, either[string, int64]]{{"k", either[string, int64]{L: "a"}},
		{"", either[string, int64]{R: 5, IsRight: true}}})
}

func FuzzDecodeDealt(f *testing.F) {
	fuzzRecords(f, []dealt[string]{{To: 2, Rec: "x"}, {To: -1}})
}

// nullEnv builds datasets without running them.
type nullEnv struct{}

func (nullEnv) RunJob(context.Context, *lineage.Dataset, runtime.Action) ([]any, error) {
	return nil, errors.New("not run")
}
func (nullEnv) Parallelism() int { return 2 }

func TestCheckPortable(t *testing.T) {
	sc := lineage.NewRegistry().Scope(0, 0)
	words := Parallelize(nullEnv{}, sc, []string{"a", "b"}, 2)
	good := ReduceByKey(Map(words, func(w string) KV[string, int] { return Pair(w, 1) }), func(a, b int) int { return a + b })
	if err := CheckPortable(good.Lineage()); err != nil {
		t.Fatal(err)
	}
	// Records that would lose data in a shuffle, and after it.
	bad := Map(GroupByKey(Map(words, func(w string) KV[string, local] { return Pair(w, local{1}) })),
		func(kv KV[string, []local]) int { return len(kv.Value) })
	err := CheckPortable(bad.Lineage())
	if !errors.Is(err, codec.ErrNotPortable) || !strings.Contains(err.Error(), "dataset.local has unexported field n") {
		t.Fatalf("CheckPortable = %v, want ErrNotPortable naming local.n", err)
	}
}
