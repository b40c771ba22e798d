package sluice

import (
	"fmt"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
)

// OpOption configures a stream operation: its name, its shuffle's
// partitioning, a state's initial value or timeout.
type OpOption func(*opConfig)

type opConfig struct {
	name        string
	parts       int
	partitioner any
	initial     any
	timeout     time.Duration
	keep        any
	checkpoint  time.Duration
	// lateness is how far event-time windows wait behind the latest
	// event time before they close (AllowedLateness).
	lateness time.Duration
	// deadLetter is where FromSource sends bad records (nil: they fail
	// their batch).
	deadLetter Sink[BadRecord]
	// token, tlsCert and tlsKey secure HTTP receivers (AuthToken, TLS).
	token           string
	tlsCert, tlsKey string
}

// Named gives an operation a stable name. Stateful operations
// (UpdateStateByKey, MapWithState, ReduceByKeyAndWindow with an inverse,
// the event-time windows) require one, unique in the context: it
// identifies the operator's state apart from the graph's shape, so that
// checkpoints, metrics and the UI can key the state by it and a changed
// job can find its state again.
func Named(name string) OpOption { return func(o *opConfig) { o.name = name } }

// Partitions sets the number of partitions of an operation's shuffle.
func Partitions(n int) OpOption { return func(o *opConfig) { o.parts = n } }

// WithPartitioner places an operation's output by key with p.
func WithPartitioner[K any](p Partitioner[K]) OpOption {
	return func(o *opConfig) { o.partitioner = p }
}

func opts(os []OpOption) opConfig {
	var o opConfig
	for _, f := range os {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// statePartitioner is the partitioner of a stateful operator's state: the
// option's, else hash partitioning over Partitions(n) or the context's
// parallelism. It is fixed when the graph is built, so that the state of
// every batch is placed alike whatever the input's partitioning.
func statePartitioner[K comparable](c *Context, op string, cfg opConfig) Partitioner[K] {
	if cfg.partitioner != nil {
		p, ok := cfg.partitioner.(Partitioner[K])
		if !c.check(op, !ok, "partitioner %T does not place keys of type %s", cfg.partitioner, typeName[K]()) {
			return p
		}
	}
	n := cfg.parts
	if n <= 0 {
		n = c.cfg.parallelism
	}
	return dataset.HashPartitioner[K](n)
}

// checkPartitioner reports a partitioner whose key type is not K.
func checkPartitioner[K comparable](c *Context, op string, cfg opConfig) {
	if cfg.partitioner != nil {
		_, ok := cfg.partitioner.(Partitioner[K])
		c.check(op, !ok, "partitioner %T does not place keys of type %s", cfg.partitioner, typeName[K]())
	}
}

func (o opConfig) shuffle() []dataset.Option {
	var out []dataset.Option
	if o.parts > 0 {
		out = append(out, dataset.Partitions(o.parts))
	}
	if o.partitioner != nil {
		p := o.partitioner
		out = append(out, func(d *dataset.Options) { d.Partitioner = p })
	}
	return out
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// check records a construction error when bad is true.
func (c *Context) check(op string, bad bool, format string, args ...any) bool {
	if bad {
		c.fail(op, fmt.Errorf(format, args...))
	}
	return bad
}

func mustStream(op string, ss ...interface{ ctx() *Context }) *Context {
	var c *Context
	for _, s := range ss {
		if reflect.ValueOf(s).IsNil() {
			panic(fmt.Sprintf("sluice: %s: nil stream", op))
		}
		if c == nil {
			c = s.ctx()
		} else if s.ctx() != c {
			panic(fmt.Sprintf("sluice: %s: streams from different contexts", op))
		}
	}
	return c
}

func (s *Stream[T]) ctx() *Context { return s.n.c }

// newStream adds n to the graph and returns it as a typed stream.
func newStream[U any](c *Context, n *node) *Stream[U] {
	if n.typ == "" {
		n.typ = typeName[U]()
	}
	n.rtype = dataset.RecordType[U]()
	c.addNode(n)
	return &Stream[U]{n: n}
}

// derive makes a stream whose batch at t is f of s's batch at t.
func derive[T, U any](s *Stream[T], kind string, f func(d Dataset[T], t time.Time) Dataset[U]) *Stream[U] {
	n := &node{kind: kind, parents: []*node{s.n}, slide: s.n.slide}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		pd, _, err := s.n.at(t)
		if err != nil {
			return nil, err
		}
		return f(view[T](s.n, pd, n.scope(t)), t).Lineage(), nil
	}
	return newStream[U](s.n.c, n)
}

// derive2 makes a stream whose batch at t is f of a's and b's batches at t.
func derive2[A, B, U any](a *Stream[A], b *Stream[B], kind string, f func(Dataset[A], Dataset[B], time.Time) Dataset[U]) *Stream[U] {
	c := mustStream(kind, a, b)
	c.check(kind, a.n.slide != b.n.slide, "streams with different slides (%v and %v)", a.n.slide, b.n.slide)
	n := &node{kind: kind, parents: []*node{a.n, b.n}, slide: a.n.slide}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		da, _, err := a.n.at(t)
		if err != nil {
			return nil, err
		}
		db, _, err := b.n.at(t)
		if err != nil {
			return nil, err
		}
		sc := n.scope(t)
		return f(view[A](a.n, da, sc), view[B](b.n, db, sc), t).Lineage(), nil
	}
	return newStream[U](c, n)
}

// Map applies f to every record.
func Map[T, U any](s *Stream[T], f func(T) U) *Stream[U] {
	mustStream("Map", s).check("Map", f == nil, "nil function")
	return derive(s, "Map", func(d Dataset[T], _ time.Time) Dataset[U] { return dataset.Map(d, f) })
}

// FlatMap applies f to every record and flattens the results.
func FlatMap[T, U any](s *Stream[T], f func(T) []U) *Stream[U] {
	mustStream("FlatMap", s).check("FlatMap", f == nil, "nil function")
	return derive(s, "FlatMap", func(d Dataset[T], _ time.Time) Dataset[U] { return dataset.FlatMap(d, f) })
}

// Filter keeps the records for which keep returns true.
func Filter[T any](s *Stream[T], keep func(T) bool) *Stream[T] {
	mustStream("Filter", s).check("Filter", keep == nil, "nil function")
	return derive(s, "Filter", func(d Dataset[T], _ time.Time) Dataset[T] { return d.Filter(keep) })
}

// MapPartitions applies f to each whole partition of every batch.
func MapPartitions[T, U any](s *Stream[T], f func([]T) []U) *Stream[U] {
	mustStream("MapPartitions", s).check("MapPartitions", f == nil, "nil function")
	return derive(s, "MapPartitions", func(d Dataset[T], _ time.Time) Dataset[U] { return dataset.MapPartitions(d, f) })
}

// Repartition spreads every batch evenly over n partitions.
func Repartition[T any](s *Stream[T], n int) *Stream[T] {
	mustStream("Repartition", s).check("Repartition", n < 1, "%d partitions", n)
	return derive(s, "Repartition", func(d Dataset[T], _ time.Time) Dataset[T] { return d.Repartition(max(n, 1)) })
}

// Union merges streams of the same type and slide batch by batch.
func Union[T any](first *Stream[T], rest ...*Stream[T]) *Stream[T] {
	all := append([]*Stream[T]{first}, rest...)
	ss := make([]interface{ ctx() *Context }, len(all))
	parents := make([]*node, len(all))
	for i, s := range all {
		ss[i] = s
		parents[i] = s.n
	}
	c := mustStream("Union", ss...)
	for _, s := range rest {
		c.check("Union", s.n.slide != first.n.slide, "streams with different slides (%v and %v)", first.n.slide, s.n.slide)
	}
	n := &node{kind: "Union", parents: parents, slide: first.n.slide}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		sc := n.scope(t)
		ds := make([]Dataset[T], len(all))
		for i, s := range all {
			d, _, err := s.n.at(t)
			if err != nil {
				return nil, err
			}
			ds[i] = view[T](s.n, d, sc)
		}
		return dataset.Union(ds[0], ds[1:]...).Lineage(), nil
	}
	return newStream[T](c, n)
}

// Transform applies any dataset function to every batch, for example a
// join with a static dataset or a model. f runs on the driver at every
// batch and again on recovery, so it must be deterministic.
func Transform[T, U any](s *Stream[T], f func(d Dataset[T], t time.Time) Dataset[U]) *Stream[U] {
	mustStream("Transform", s).check("Transform", f == nil, "nil function")
	return derive(s, "Transform", f)
}

// TransformWith applies a dataset function to the batches of two streams.
func TransformWith[A, B, U any](a *Stream[A], b *Stream[B], f func(Dataset[A], Dataset[B], time.Time) Dataset[U]) *Stream[U] {
	mustStream("TransformWith", a, b).check("TransformWith", f == nil, "nil function")
	return derive2(a, b, "TransformWith", f)
}

// Count makes a stream of one record per batch: the number of records in
// the batch (0 for an empty batch).
func Count[T any](s *Stream[T]) *Stream[int64] {
	return derive(s, "Count", func(d Dataset[T], t time.Time) Dataset[int64] {
		return countOf(d)
	})
}

// countOf counts a dataset into a one-record dataset, without a job.
func countOf[T any](d Dataset[T]) Dataset[int64] {
	ones := dataset.MapPartitions(d, func(p []T) []KV[struct{}, int64] {
		return []KV[struct{}, int64]{{Value: int64(len(p))}}
	})
	sums := dataset.ReduceByKey(ones, func(a, b int64) int64 { return a + b }, dataset.Partitions(1))
	return dataset.Map(sums, func(kv KV[struct{}, int64]) int64 { return kv.Value })
}

// CountByValue counts the occurrences of each distinct record of every batch.
func CountByValue[T comparable](s *Stream[T], o ...OpOption) *Stream[KV[T, int64]] {
	cfg := opts(o)
	checkPartitioner[T](mustStream("CountByValue", s), "CountByValue", cfg)
	return derive(s, "CountByValue", func(d Dataset[T], _ time.Time) Dataset[KV[T, int64]] {
		return dataset.CountByValue(d, cfg.shuffle()...)
	})
}

// Reduce reduces every batch to a single record with f (associative and
// commutative); an empty batch gives no record.
func Reduce[T any](s *Stream[T], f func(T, T) T) *Stream[T] {
	mustStream("Reduce", s).check("Reduce", f == nil, "nil function")
	return derive(s, "Reduce", func(d Dataset[T], _ time.Time) Dataset[T] { return reduceAll(d, f) })
}

func reduceAll[T any](d Dataset[T], f func(T, T) T) Dataset[T] {
	keyed := dataset.Map(d, func(x T) KV[struct{}, T] { return KV[struct{}, T]{Value: x} })
	r := dataset.ReduceByKey(keyed, f, dataset.Partitions(1))
	return dataset.Map(r, func(kv KV[struct{}, T]) T { return kv.Value })
}

// ReduceByKey merges the values of each key of every batch with f.
func ReduceByKey[K comparable, V any](s *Stream[KV[K, V]], f func(V, V) V, o ...OpOption) *Stream[KV[K, V]] {
	c := mustStream("ReduceByKey", s)
	c.check("ReduceByKey", f == nil, "nil function")
	cfg := opts(o)
	checkPartitioner[K](c, "ReduceByKey", cfg)
	return derive(s, "ReduceByKey", func(d Dataset[KV[K, V]], _ time.Time) Dataset[KV[K, V]] {
		return dataset.ReduceByKey(d, f, cfg.shuffle()...)
	})
}

// GroupByKey gathers the values of each key of every batch.
func GroupByKey[K comparable, V any](s *Stream[KV[K, V]], o ...OpOption) *Stream[KV[K, []V]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("GroupByKey", s), "GroupByKey", cfg)
	return derive(s, "GroupByKey", func(d Dataset[KV[K, V]], _ time.Time) Dataset[KV[K, []V]] {
		return dataset.GroupByKey(d, cfg.shuffle()...)
	})
}

// CombineByKey merges the values of each key of every batch into a
// combiner (see dataset.CombineByKey).
func CombineByKey[K comparable, V, C any](s *Stream[KV[K, V]], create func(V) C, merge func(C, V) C, mergeC func(C, C) C, o ...OpOption) *Stream[KV[K, C]] {
	c := mustStream("CombineByKey", s)
	c.check("CombineByKey", create == nil || merge == nil || mergeC == nil, "nil function")
	cfg := opts(o)
	checkPartitioner[K](c, "CombineByKey", cfg)
	return derive(s, "CombineByKey", func(d Dataset[KV[K, V]], _ time.Time) Dataset[KV[K, C]] {
		return dataset.CombineByKey(d, create, merge, mergeC, cfg.shuffle()...)
	})
}

// MapValues applies f to every value, keeping the keys.
func MapValues[K comparable, V, W any](s *Stream[KV[K, V]], f func(V) W) *Stream[KV[K, W]] {
	mustStream("MapValues", s).check("MapValues", f == nil, "nil function")
	return derive(s, "MapValues", func(d Dataset[KV[K, V]], _ time.Time) Dataset[KV[K, W]] { return dataset.MapValues(d, f) })
}

// FlatMapValues applies f to every value and pairs each result with the key.
func FlatMapValues[K comparable, V, W any](s *Stream[KV[K, V]], f func(V) []W) *Stream[KV[K, W]] {
	mustStream("FlatMapValues", s).check("FlatMapValues", f == nil, "nil function")
	return derive(s, "FlatMapValues", func(d Dataset[KV[K, V]], _ time.Time) Dataset[KV[K, W]] {
		return dataset.FlatMapValues(d, f)
	})
}

// CoGroup groups, batch by batch, the values of each key in a and in b.
func CoGroup[K comparable, V, W any](a *Stream[KV[K, V]], b *Stream[KV[K, W]], o ...OpOption) *Stream[KV[K, Joined[[]V, []W]]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("CoGroup", a), "CoGroup", cfg)
	return derive2(a, b, "CoGroup", func(x Dataset[KV[K, V]], y Dataset[KV[K, W]], _ time.Time) Dataset[KV[K, Joined[[]V, []W]]] {
		return dataset.CoGroup(x, y, cfg.shuffle()...)
	})
}

// Join joins, batch by batch, the records of a and b with equal keys.
func Join[K comparable, V, W any](a *Stream[KV[K, V]], b *Stream[KV[K, W]], o ...OpOption) *Stream[KV[K, Joined[V, W]]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("Join", a), "Join", cfg)
	return derive2(a, b, "Join", func(x Dataset[KV[K, V]], y Dataset[KV[K, W]], _ time.Time) Dataset[KV[K, Joined[V, W]]] {
		return dataset.Join(x, y, cfg.shuffle()...)
	})
}

// LeftOuterJoin is Join keeping a's keys that b lacks in that batch.
func LeftOuterJoin[K comparable, V, W any](a *Stream[KV[K, V]], b *Stream[KV[K, W]], o ...OpOption) *Stream[KV[K, Joined[V, Optional[W]]]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("LeftOuterJoin", a), "LeftOuterJoin", cfg)
	return derive2(a, b, "LeftOuterJoin", func(x Dataset[KV[K, V]], y Dataset[KV[K, W]], _ time.Time) Dataset[KV[K, Joined[V, Optional[W]]]] {
		return dataset.LeftOuterJoin(x, y, cfg.shuffle()...)
	})
}

// RightOuterJoin is Join keeping b's keys that a lacks in that batch.
func RightOuterJoin[K comparable, V, W any](a *Stream[KV[K, V]], b *Stream[KV[K, W]], o ...OpOption) *Stream[KV[K, Joined[Optional[V], W]]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("RightOuterJoin", a), "RightOuterJoin", cfg)
	return derive2(a, b, "RightOuterJoin", func(x Dataset[KV[K, V]], y Dataset[KV[K, W]], _ time.Time) Dataset[KV[K, Joined[Optional[V], W]]] {
		return dataset.RightOuterJoin(x, y, cfg.shuffle()...)
	})
}

// FullOuterJoin is Join keeping the keys either side lacks in that batch.
func FullOuterJoin[K comparable, V, W any](a *Stream[KV[K, V]], b *Stream[KV[K, W]], o ...OpOption) *Stream[KV[K, Joined[Optional[V], Optional[W]]]] {
	cfg := opts(o)
	checkPartitioner[K](mustStream("FullOuterJoin", a), "FullOuterJoin", cfg)
	return derive2(a, b, "FullOuterJoin", func(x Dataset[KV[K, V]], y Dataset[KV[K, W]], _ time.Time) Dataset[KV[K, Joined[Optional[V], Optional[W]]]] {
		return dataset.FullOuterJoin(x, y, cfg.shuffle()...)
	})
}
