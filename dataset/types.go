package dataset

import (
	"reflect"
	"sync"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
)

// KV is a key/value pair: the record type of keyed operations.
type KV[K comparable, V any] struct {
	Key   K
	Value V
}

// Pair builds a KV.
func Pair[K comparable, V any](k K, v V) KV[K, V] { return KV[K, V]{Key: k, Value: v} }

// SluiceCodec gives the record codec a fast encoding for pairs.
func (KV[K, V]) SluiceCodec() any {
	return codec.Pair(codec.For[K](), codec.For[V](),
		func(kv KV[K, V]) (K, V) { return kv.Key, kv.Value },
		func(k K, v V) KV[K, V] { return KV[K, V]{k, v} })
}

// Joined holds the two sides of a joined record.
type Joined[L, R any] struct {
	Left  L
	Right R
}

// Optional is a value that may be absent: the missing side of an outer
// join, or a state that does not exist yet.
type Optional[V any] struct {
	Value V
	Valid bool
}

// Some returns a present Optional.
func Some[V any](v V) Optional[V] { return Optional[V]{Value: v, Valid: true} }

// RecordType describes []T partitions to the engine. For the engine's use
// (datasets the root package builds from lineage directly).
func RecordType[T any]() lineage.Type { return recordType[T]() }

// typeOf describes []T partitions to the engine.
type typeOf[T any] struct {
	name  string
	codec codec.Codec[T]
}

var typeNames sync.Map // reflect.Type -> *typeOf (built once per type)

func recordType[T any]() *typeOf[T] {
	rt := reflect.TypeFor[T]()
	if v, ok := typeNames.Load(rt); ok {
		return v.(*typeOf[T])
	}
	v, _ := typeNames.LoadOrStore(rt, &typeOf[T]{name: rt.String(), codec: codec.For[T]()})
	return v.(*typeOf[T])
}

func (t *typeOf[T]) Name() string   { return t.name }
func (t *typeOf[T]) Len(p any) int  { return len(p.([]T)) }
func (t *typeOf[T]) Empty() any     { return []T(nil) }
func (t *typeOf[T]) String() string { return t.name }

func (t *typeOf[T]) Head(p any, n int) any {
	s := p.([]T)
	return s[:min(n, len(s))]
}

// EstimateBytes estimates the encoded size of partition p without
// encoding it all, for partitions of one record that holds many values (a
// whole state partition, whose record type has a SizeEstimate method
// given the record's own encoded size); ok is false for other partitions,
// which are estimated from a sample of their records.
func (t *typeOf[T]) EstimateBytes(p any, sample int) (n int64, ok bool) {
	s := p.([]T)
	if len(s) != 1 {
		return 0, false
	}
	e, ok := any(s[0]).(interface {
		SizeEstimate(sample int, size func(T) int) int64
	})
	if !ok {
		return 0, false
	}
	return e.SizeEstimate(sample, func(r T) int { return len(t.codec.Append(nil, []T{r})) }), true
}

func (t *typeOf[T]) Encode(dst []byte, p any) []byte { return t.codec.Append(dst, p.([]T)) }

func (t *typeOf[T]) Decode(b []byte) (any, error) {
	v, err := t.codec.Decode(b)
	if err != nil {
		return nil, err
	}
	return v, nil
}
