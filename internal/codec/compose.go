package codec

import (
	"encoding/binary"
	"fmt"
)

// Composite is implemented by generic container types (such as sluice's
// KV[K,V]) so that For can build a fast codec for them without reflection.
// SluiceCodec returns a Codec[Self] (as any), usually built with Pair or
// Slice from the codecs of the type parameters. For calls it once per type,
// on the zero value, and panics if the result is not a Codec[Self]; it must
// not depend on the receiver's value.
type Composite interface{ SluiceCodec() any }

// Pair returns a codec for P, a type made of an A and a B. Records are
// interleaved: each record is the encoding of its A followed by that of its
// B, with no length prefix between them when ca and cb come from this
// package (a codec from elsewhere costs a uvarint length per value). Limits
// are those of the Pair codec, applied to the A and B parts as well.
func Pair[A, B, P any](ca Codec[A], cb Codec[B], split func(P) (A, B), join func(A, B) P) Codec[P] {
	return newBatch[P](pairElem[A, B, P]{a: elemOf(ca), b: elemOf(cb), split: split, join: join}, false,
		firstErr(errOf(ca), errOf(cb)))
}

type pairElem[A, B, P any] struct {
	a     elem[A]
	b     elem[B]
	split func(P) (A, B)
	join  func(A, B) P
}

func (p pairElem[A, B, P]) minSize() int { return p.a.minSize() + p.b.minSize() }

func (p pairElem[A, B, P]) appendOne(dst []byte, v P) []byte {
	a, b := p.split(v)
	return p.b.appendOne(p.a.appendOne(dst, a), b)
}

func (p pairElem[A, B, P]) read(r *reader) P {
	a := p.a.read(r)
	if r.err != nil {
		var zero P
		return zero
	}
	b := p.b.read(r)
	if r.err != nil {
		var zero P
		return zero
	}
	return p.join(a, b)
}

// Slice returns a codec whose records are slices of E (such as the grouped
// values of a key): each record is a uvarint count, then the elements. A
// count is bounded by Limits.MaxRecords. Decoded slices are never nil.
func Slice[E any](ce Codec[E]) Codec[[]E] {
	return newBatch[[]E](sliceElem[E]{e: elemOf(ce)}, false, errOf(ce))
}

type sliceElem[E any] struct{ e elem[E] }

func (s sliceElem[E]) minSize() int { return 1 }

func (s sliceElem[E]) appendOne(dst []byte, v []E) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, x := range v {
		dst = s.e.appendOne(dst, x)
	}
	return dst
}

func (s sliceElem[E]) read(r *reader) []E {
	n := r.count(s.e.minSize(), r.lim.MaxRecords, "slice length")
	if r.err != nil {
		return nil
	}
	out := make([]E, n)
	for i := range out {
		out[i] = s.e.read(r)
		if r.err != nil {
			return nil
		}
	}
	return out
}

// Convert returns a codec for T that encodes each record as its wire form
// W with cw: to(v) is encoded, and from(w) is what Decode returns. Use it
// for a type with unexported fields or invariants (a SluiceCodec returning
// Convert(codec.Pair(...), toWire, fromWire)), or to encode a type as a
// cheaper one. The encoding is exactly that of cw, with no extra bytes.
//
// from must not panic on any W that cw decodes, since Decode reads
// untrusted bytes: it cannot fail, so it should make the nearest valid T of
// a W that breaks T's invariants (and to(from(w)) may then differ from w).
// Limits are those of the Convert codec, applied to the W parts.
func Convert[T, W any](cw Codec[W], to func(T) W, from func(W) T) Codec[T] {
	return newBatch[T](convertElem[T, W]{w: elemOf(cw), to: to, from: from}, false, errOf(cw))
}

type convertElem[T, W any] struct {
	w    elem[W]
	to   func(T) W
	from func(W) T
}

func (c convertElem[T, W]) minSize() int { return c.w.minSize() }

func (c convertElem[T, W]) appendOne(dst []byte, v T) []byte { return c.w.appendOne(dst, c.to(v)) }

func (c convertElem[T, W]) read(r *reader) T {
	w := c.w.read(r)
	if r.err != nil {
		var zero T
		return zero
	}
	return c.from(w)
}

// foreignElem adapts a codec from another package: each value is a uvarint
// length, then a one-record batch of that codec.
type foreignElem[T any] struct{ c Codec[T] }

func (f foreignElem[T]) minSize() int { return 1 }

func (f foreignElem[T]) appendOne(dst []byte, v T) []byte {
	enc := f.c.Append(nil, []T{v})
	return append(binary.AppendUvarint(dst, uint64(len(enc))), enc...)
}

func (f foreignElem[T]) read(r *reader) T {
	var zero T
	n := r.count(1, r.lim.MaxElemBytes, "element length")
	if r.err != nil {
		return zero
	}
	start := r.off
	vs, err := f.c.Decode(r.next(n))
	if err != nil {
		r.off = start
		r.failErr(ErrCorrupt, err)
		return zero
	}
	if len(vs) != 1 {
		r.off = start
		r.failErr(ErrCorrupt, fmt.Errorf("element holds %d records, want 1", len(vs)))
		return zero
	}
	return vs[0]
}
