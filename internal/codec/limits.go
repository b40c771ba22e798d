package codec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// ErrCorrupt is wrapped by every error that Decode returns for malformed
// input: truncated buffers, counts or lengths that the remaining bytes cannot
// hold, bad varints, out-of-range values and trailing bytes. It promises that
// nothing was decoded; retrying with the same bytes fails the same way.
var ErrCorrupt = errors.New("codec: corrupt input")

// ErrTooLarge is wrapped by errors for input that may be well formed but
// exceeds the Limits of the codec (a buffer, count, element or nesting depth
// that is too big). It promises that decoding stopped before allocating for
// the oversized part.
var ErrTooLarge = errors.New("codec: input exceeds limits")

// Limits bound what Decode accepts and so what it allocates. A zero (or
// negative) field means the value in DefaultLimits.
//
// Every count and length is checked against the bytes left in the buffer
// before anything is allocated, and every encoded element takes at least one
// byte, so decoding allocates at most a small multiple of the buffer size
// (the in-memory size of an element over its smallest encoding).
type Limits struct {
	// MaxRecords bounds the record count of a batch and the length of every
	// nested slice (Slice codecs, arrays and maps in the CBOR fallback).
	MaxRecords int
	// MaxBytes bounds the size of a whole buffer passed to Decode.
	MaxBytes int
	// MaxElemBytes bounds one string or []byte, and the encoding of one
	// record in the CBOR fallback.
	MaxElemBytes int
	// MaxDepth bounds the nesting of CBOR data items in the fallback
	// (cbor.DecOptions.MaxNestedLevels, clamped to 4..65535). The fast paths
	// have no data-dependent nesting: their depth is fixed by the type.
	MaxDepth int
}

// DefaultLimits are the limits of codecs returned by For, Pair and Slice:
// 16Mi records per batch, 256 MiB per buffer, 64 MiB per element and CBOR
// nesting of 32 levels.
var DefaultLimits = Limits{
	MaxRecords:   16 << 20,
	MaxBytes:     256 << 20,
	MaxElemBytes: 64 << 20,
	MaxDepth:     32,
}

// withDefaults fills zero or negative fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	pick := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	return Limits{
		MaxRecords:   pick(l.MaxRecords, DefaultLimits.MaxRecords),
		MaxBytes:     pick(l.MaxBytes, DefaultLimits.MaxBytes),
		MaxElemBytes: pick(l.MaxElemBytes, DefaultLimits.MaxElemBytes),
		MaxDepth:     pick(l.MaxDepth, DefaultLimits.MaxDepth),
	}
}

// reader is the decoding cursor shared by all element decoders of one
// Decode call. The first failure sticks in err; decoders return zero values
// after it and callers check err after each element.
type reader struct {
	b    []byte
	off  int
	err  error
	lim  Limits
	name string       // the decoded type, for error messages
	dm   cbor.DecMode // built on first use by the CBOR fallback
}

func (r *reader) rest() int { return len(r.b) - r.off }

// fail records the first error, wrapping kind (ErrCorrupt or ErrTooLarge),
// at the current offset.
func (r *reader) fail(kind error, format string, args ...any) {
	r.failAt(r.off, kind, format, args...)
}

// failAt is fail for an item that started at off.
func (r *reader) failAt(off int, kind error, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d: %s", kind, r.name, off, fmt.Sprintf(format, args...))
	}
}

// failErr records the first error, wrapping both kind and cause.
func (r *reader) failErr(kind error, cause error) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d: %w", kind, r.name, r.off, cause)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(ErrCorrupt, "bad or truncated varint")
		return 0
	}
	r.off += n
	return v
}

// varint reads a zigzag-encoded signed varint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// checkCount validates a count, read from offset start, of items that each
// take at least minSize bytes: first against the bytes left (ErrCorrupt),
// then against max (ErrTooLarge). Only a count that passes may size an
// allocation.
func (r *reader) checkCount(n uint64, start, minSize, max int, what string) int {
	if r.err != nil {
		return 0
	}
	if n > uint64(r.rest()/minSize) {
		r.failAt(start, ErrCorrupt, "%s %d exceeds the %d bytes left", what, n, r.rest())
		return 0
	}
	if n > uint64(max) {
		r.failAt(start, ErrTooLarge, "%s %d exceeds limit %d", what, n, max)
		return 0
	}
	return int(n)
}

// count reads a uvarint count and validates it with checkCount.
func (r *reader) count(minSize, max int, what string) int {
	start := r.off
	return r.checkCount(r.uvarint(), start, minSize, max, what)
}

// next returns the next n bytes, aliasing the input. n must have been
// validated against rest.
func (r *reader) next(n int) []byte {
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

// fixed returns the next n bytes, or nil after recording ErrCorrupt.
func (r *reader) fixed(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if r.rest() < n {
		r.fail(ErrCorrupt, "%s needs %d bytes, %d left", what, n, r.rest())
		return nil
	}
	return r.next(n)
}
