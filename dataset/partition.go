package dataset

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Partitioner places keys in partitions. Partition must be deterministic
// and identical in every process: it decides which task sees which key.
type Partitioner[K any] interface {
	// Partitions is the number of partitions.
	Partitions() int
	// Partition returns the partition of key, in [0, Partitions()).
	Partition(key K) int
	// Name identifies the placement function: two partitioners with the
	// same name and number of partitions must place every key alike, so
	// datasets they placed can be joined without a shuffle.
	Name() string
}

type hashPartitioner[K comparable] struct {
	n    int
	hash func(K) uint64
}

// HashPartitioner places keys by a stable hash of the key (the same in
// every process and run).
func HashPartitioner[K comparable](n int) Partitioner[K] {
	if n < 1 {
		panic(fmt.Sprintf("dataset: HashPartitioner with %d partitions", n))
	}
	return hashPartitioner[K]{n: n, hash: codec.Hasher[K]()}
}

func (h hashPartitioner[K]) Partitions() int   { return h.n }
func (h hashPartitioner[K]) Partition(k K) int { return int(h.hash(k) % uint64(h.n)) }
func (h hashPartitioner[K]) Name() string      { return "hash" }

// Option configures a shuffle: the number of partitions or the
// partitioner.
type Option func(*Options)

// Options is what Option functions set.
type Options struct {
	// Parts is the number of hash partitions (0: default).
	Parts int
	// Partitioner is a Partitioner[K] for the operation's key type K.
	Partitioner any
}

// Partitions sets the number of partitions of a shuffle's output (hash
// partitioned).
func Partitions(n int) Option { return func(o *Options) { o.Parts = n } }

// WithPartitioner places a shuffle's output with p. Its key type must be
// the operation's key type.
func WithPartitioner[K any](p Partitioner[K]) Option {
	return func(o *Options) { o.Partitioner = p }
}

// partitionerFor picks the partitioner of a keyed operation: the option's,
// else hash partitioning with the option's count, else the input's own
// hash placement (which avoids a shuffle), else the engine's parallelism.
func partitionerFor[K comparable](env Env, in lineage.Partitioning, opts []Option) Partitioner[K] {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	if o.Partitioner != nil {
		p, ok := o.Partitioner.(Partitioner[K])
		if !ok {
			panic(fmt.Sprintf("dataset: partitioner %T does not place keys of type %T", o.Partitioner, *new(K)))
		}
		return p
	}
	switch {
	case o.Parts > 0:
		return HashPartitioner[K](o.Parts)
	case in.Name == "hash":
		return HashPartitioner[K](in.Parts)
	default:
		return HashPartitioner[K](env.Parallelism())
	}
}

func placement[K any](p Partitioner[K]) lineage.Partitioning {
	return lineage.Partitioning{Name: p.Name(), Parts: p.Partitions()}
}

// keyIndex is an insertion-ordered map from keys to accumulated values:
// iteration follows first appearance, so results do not depend on Go's
// map order and every run produces records in the same order.
type keyIndex[K comparable, C any] struct {
	idx map[K]int
	kvs []KV[K, C]
}

func newKeyIndex[K comparable, C any](hint int) *keyIndex[K, C] {
	return &keyIndex[K, C]{idx: make(map[K]int, hint)}
}

// slot returns a pointer to k's value and whether k was new.
func (m *keyIndex[K, C]) slot(k K) (*C, bool) {
	if i, ok := m.idx[k]; ok {
		return &m.kvs[i].Value, false
	}
	m.idx[k] = len(m.kvs)
	m.kvs = append(m.kvs, KV[K, C]{Key: k})
	return &m.kvs[len(m.kvs)-1].Value, true
}
