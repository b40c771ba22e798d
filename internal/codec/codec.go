package codec

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
)

// Codec encodes and decodes slices of records of one type.
type Codec[T any] interface {
	// Append appends the encoding of vs to dst and returns it. It panics
	// with an error wrapping ErrNotPortable if the codec's type cannot leave
	// the process (see Portable).
	Append(dst []byte, vs []T) []byte
	// Decode decodes a whole buffer produced by Append. It never panics on any
	// input, never allocates more than Limits allow, and returns an error
	// wrapping ErrCorrupt for malformed input (ErrNotPortable, whatever the
	// input, if the codec's type cannot leave the process).
	Decode(b []byte) ([]T, error)
}

// elem encodes and decodes one value; batches, pairs and slices are built
// from elems so that composition costs no per-record length prefix.
type elem[T any] interface {
	appendOne(dst []byte, v T) []byte
	// read decodes one value; on failure it records the error in r and
	// returns the zero value.
	read(r *reader) T
	// minSize is the fewest bytes any encoded value takes (at least 1). It
	// bounds counts before allocation.
	minSize() int
}

// elemer is implemented by this package's codecs to expose their elem.
type elemer[T any] interface{ elem() elem[T] }

// batch is the Codec of this package: a count, then the records.
type batch[T any] struct {
	e    elem[T]
	lim  Limits
	name string // type name for errors
	// cborHead makes the count a CBOR array head, so that a fallback batch
	// is one well-formed CBOR array; fast paths use a uvarint.
	cborHead bool
	// err, wrapping ErrNotPortable, says why e would lose data: Append and
	// Decode refuse to run. e still works, for Hasher, which must hash
	// such keys in local mode as it always has.
	err error
}

func newBatch[T any](e elem[T], cborHead bool, err error) *batch[T] {
	return &batch[T]{e: e, lim: DefaultLimits, name: typeName[T](), cborHead: cborHead, err: err}
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

func (c *batch[T]) elem() elem[T] { return c.e }

// Append implements Codec.
func (c *batch[T]) Append(dst []byte, vs []T) []byte {
	if c.err != nil {
		panic(c.err)
	}
	if c.cborHead {
		dst = appendArrayHead(dst, uint64(len(vs)))
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(vs)))
	}
	for _, v := range vs {
		dst = c.e.appendOne(dst, v)
	}
	return dst
}

// Decode implements Codec.
func (c *batch[T]) Decode(b []byte) ([]T, error) {
	if c.err != nil {
		return nil, c.err
	}
	if len(b) > c.lim.MaxBytes {
		return nil, fmt.Errorf("%w: %s: buffer of %d bytes exceeds limit %d",
			ErrTooLarge, c.name, len(b), c.lim.MaxBytes)
	}
	r := &reader{b: b, lim: c.lim, name: c.name}
	var n uint64
	if c.cborHead {
		n = r.arrayHead()
	} else {
		n = r.uvarint()
	}
	count := r.checkCount(n, 0, c.e.minSize(), c.lim.MaxRecords, "record count")
	if r.err != nil {
		return nil, r.err
	}
	out := make([]T, count)
	for i := range out {
		out[i] = c.e.read(r)
		if r.err != nil {
			return nil, r.err
		}
	}
	if r.rest() != 0 {
		r.fail(ErrCorrupt, "%d trailing bytes", r.rest())
		return nil, r.err
	}
	return out, nil
}

// WithLimits returns c with the limits l (zero fields take DefaultLimits).
// The limits of the outermost codec govern the whole decode, including the
// elements of Pair and Slice codecs. A codec not made by this package is
// wrapped so that only MaxBytes is enforced around it.
func WithLimits[T any](c Codec[T], l Limits) Codec[T] {
	l = l.withDefaults()
	switch c := c.(type) {
	case *batch[T]:
		cp := *c
		cp.lim = l
		return &cp
	case *foreignLimit[T]:
		return &foreignLimit[T]{c: c.c, lim: l}
	}
	return &foreignLimit[T]{c: c, lim: l}
}

// foreignLimit enforces MaxBytes around a codec from another package.
type foreignLimit[T any] struct {
	c   Codec[T]
	lim Limits
}

func (f *foreignLimit[T]) Append(dst []byte, vs []T) []byte { return f.c.Append(dst, vs) }

func (f *foreignLimit[T]) Decode(b []byte) ([]T, error) {
	if len(b) > f.lim.MaxBytes {
		return nil, fmt.Errorf("%w: %s: buffer of %d bytes exceeds limit %d",
			ErrTooLarge, typeName[T](), len(b), f.lim.MaxBytes)
	}
	return f.c.Decode(b)
}

// cache holds one Codec[T] (as any) per reflect.Type. It is read when
// codecs are built, never per record.
var cache sync.Map

// For returns the codec for T, built once per type and cached:
//   - a type implementing Composite gets the codec its SluiceCodec returns;
//   - string, []byte, bool, every int and uint size, float32, float64,
//     time.Time and time.Duration, and named types whose underlying type is
//     one of these (except time.Time), get a hand-written fast path;
//   - any other type is encoded with CBOR (see doc.go).
//
// For panics if T can be encoded by none of these (for example a func or
// chan type, or a struct with such a field), so that a bad record type is
// found when the stream graph is built.
//
// A type that CBOR would encode with loss — a struct, at any depth, with an
// unexported field (see Portable for the full rule) — gets a codec all the
// same, because records that stay in the process are never encoded; but
// that codec's Append panics and its Decode fails, with an error wrapping
// ErrNotPortable that names the type and the field, and Portable returns
// that error. A Pair, Slice or Convert codec built on such a codec is not
// portable either. Give the type a SluiceCodec (Composite) to carry its
// unexported fields.
func For[T any]() Codec[T] {
	rt := reflect.TypeFor[T]()
	if c, ok := cache.Load(rt); ok {
		return c.(Codec[T])
	}
	c, _ := cache.LoadOrStore(rt, build[T]())
	return c.(Codec[T])
}

func build[T any]() Codec[T] {
	if comp, ok := any(*new(T)).(Composite); ok {
		c, ok := comp.SluiceCodec().(Codec[T])
		if !ok {
			panic(fmt.Sprintf("codec: %s.SluiceCodec returned %T, want codec.Codec[%s]",
				typeName[T](), comp.SluiceCodec(), typeName[T]()))
		}
		return c
	}
	if e := fastElem[T](); e != nil {
		return newBatch(e, false, nil)
	}
	return newBatch[T](newCBORElem[T](), true, portability(reflect.TypeFor[T]()))
}

// elemOf returns the elem behind c, or an adapter that length-prefixes each
// value encoded as a one-record batch of c.
func elemOf[T any](c Codec[T]) elem[T] {
	if x, ok := c.(elemer[T]); ok {
		return x.elem()
	}
	return foreignElem[T]{c: c}
}
