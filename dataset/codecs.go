package dataset

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Codecs of the package's internal record types: they travel in shuffle
// buckets, so they get fast codecs rather than the CBOR fallback.

// SluiceCodec encodes the value, then the side: the side not taken is its
// zero value, a byte or so.
func (either[V, W]) SluiceCodec() any {
	sides := codec.Pair(codec.For[V](), codec.For[W](),
		func(j Joined[V, W]) (V, W) { return j.Left, j.Right },
		func(l V, r W) Joined[V, W] { return Joined[V, W]{l, r} })
	return codec.Pair(codec.For[bool](), sides,
		func(e either[V, W]) (bool, Joined[V, W]) { return e.IsRight, Joined[V, W]{e.L, e.R} },
		func(right bool, j Joined[V, W]) either[V, W] {
			return either[V, W]{L: j.Left, R: j.Right, IsRight: right}
		})
}

// SluiceCodec encodes the target partition, then the record.
func (dealt[T]) SluiceCodec() any {
	return codec.Pair(codec.For[int](), codec.For[T](),
		func(d dealt[T]) (int, T) { return d.To, d.Rec },
		func(to int, rec T) dealt[T] { return dealt[T]{To: to, Rec: rec} })
}

// Portable returns nil when records of type t can leave the process
// (shuffled to, cached on or returned from another process) without
// losing data, or an error wrapping codec.ErrNotPortable that names the
// type and the field that would be lost. A type made elsewhere is taken as
// portable. A runtime that moves data between processes calls it for every
// node's and shuffle bucket's type when the graph is built; local mode
// never encodes, so any type works there.
func Portable(t lineage.Type) error {
	if p, ok := t.(interface{ Portable() error }); ok {
		return p.Portable()
	}
	return nil
}

// Portable reports whether the records can leave the process (see the
// function Portable).
func (t *typeOf[T]) Portable() error { return codec.Portable(t.codec) }

// CheckPortable returns an error, wrapping codec.ErrNotPortable, for the
// first dataset in d's lineage (d first, then its dependencies depth
// first) whose records or shuffle buckets cannot leave the process, or nil.
// A cluster calls it before running a job, so that a record type that
// would lose data fails the job at once, naming the operation, instead of
// failing its tasks.
func CheckPortable(d *lineage.Dataset) error {
	return checkPortable(d, make(map[*lineage.Dataset]bool))
}

func checkPortable(d *lineage.Dataset, seen map[*lineage.Dataset]bool) error {
	if d == nil || seen[d] {
		return nil
	}
	seen[d] = true
	if err := Portable(d.Type); err != nil {
		return fmt.Errorf("dataset: records of %s: %w", d.Op, err)
	}
	for _, dep := range d.Dependencies() {
		if sd, ok := dep.(*lineage.ShuffleDep); ok {
			if err := Portable(sd.Bucket); err != nil {
				return fmt.Errorf("dataset: shuffle of %s: %w", d.Op, err)
			}
		}
		if err := checkPortable(dep.Parent(), seen); err != nil {
			return err
		}
	}
	return nil
}
