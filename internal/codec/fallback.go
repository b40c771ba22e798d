package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// encMode is the CBOR encoding of the fallback: RFC 8949 core deterministic
// encoding (shortest heads and floats, sorted map keys, no indefinite
// lengths), so equal values encode to equal bytes in every process and
// version, which Hasher relies on. Times are RFC 3339 text with nanoseconds
// (the default, Unix seconds, would drop them).
var encMode = func() cbor.EncMode {
	opts := cbor.CoreDetEncOptions()
	opts.Time = cbor.TimeRFC3339Nano
	em, err := opts.EncMode()
	if err != nil {
		panic(err) // the options above are constant
	}
	return em
}()

// decModes caches one cbor.DecMode per Limits.
var decModes sync.Map

func decModeFor(l Limits) cbor.DecMode {
	if dm, ok := decModes.Load(l); ok {
		return dm.(cbor.DecMode)
	}
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  clamp(l.MaxDepth, 4, 65535),
		MaxArrayElements: clamp(l.MaxRecords, 16, math.MaxInt32),
		MaxMapPairs:      clamp(l.MaxRecords, 16, math.MaxInt32),
		// Go strings may hold any bytes, and encMode writes them as they are.
		UTF8: cbor.UTF8DecodeInvalid,
		// A time tag decoded into an interface becomes RFC 3339 text, which
		// fails for times that text cannot hold instead of yielding a
		// time.Time that encMode could not encode again.
		TimeTagToAny: cbor.TimeTagToRFC3339Nano,
	}.DecMode()
	if err != nil {
		panic(err) // clamp keeps every option in the range cbor accepts
	}
	actual, _ := decModes.LoadOrStore(l, dm)
	return actual.(cbor.DecMode)
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func (r *reader) decMode() cbor.DecMode {
	if r.dm == nil {
		r.dm = decModeFor(r.lim)
	}
	return r.dm
}

// cborElem encodes one value as one CBOR data item.
type cborElem[T any] struct {
	// reencode makes read check that each decoded value encodes again. The
	// decoder accepts any time.Time (from an integer, say) but encMode only
	// years 0000-9999, and Decode must not yield records that make Append
	// panic. Set only for types that can hold a time.Time, as it doubles the
	// cost of decoding.
	reencode bool
}

// newCBORElem checks that T can be encoded at all, by encoding its zero
// value, so that an unsupported record type fails when the graph is built.
func newCBORElem[T any]() cborElem[T] {
	if _, err := encMode.Marshal(*new(T)); err != nil {
		panic(fmt.Sprintf("codec: no codec for %s: %v", typeName[T](), err))
	}
	return cborElem[T]{reencode: holdsTime(reflect.TypeFor[T](), map[reflect.Type]bool{})}
}

var timeType = reflect.TypeFor[time.Time]()

// holdsTime reports whether a value of type t can contain a time.Time
// (interfaces cannot get one from the decoder: see TimeTagToAny).
func holdsTime(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsTime(t.Elem(), seen)
	case reflect.Map:
		return holdsTime(t.Key(), seen) || holdsTime(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsTime(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

func (cborElem[T]) minSize() int { return 1 }

// appendOne panics if the value cannot be encoded, which For's check makes
// rare: a MarshalCBOR method that fails, an interface field holding an
// unsupported type, or a time.Time outside years 0000-9999 (RFC 3339).
func (cborElem[T]) appendOne(dst []byte, v T) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("codec: encoding %s: %v", typeName[T](), err))
	}
	return append(dst, b...)
}

func (c cborElem[T]) read(r *reader) T {
	var v, zero T
	if r.err != nil {
		return zero
	}
	rest, err := r.decMode().UnmarshalFirst(r.b[r.off:], &v)
	if err != nil {
		r.failErr(cborErrKind(err), err)
		return zero
	}
	n := r.rest() - len(rest)
	if n > r.lim.MaxElemBytes {
		r.fail(ErrTooLarge, "record of %d bytes exceeds limit %d", n, r.lim.MaxElemBytes)
		return zero
	}
	if c.reencode {
		if _, err := encMode.Marshal(v); err != nil {
			r.failErr(ErrCorrupt, fmt.Errorf("decoded record cannot be encoded: %w", err))
			return zero
		}
	}
	r.off += n
	return v
}

// cborErrKind maps cbor's limit errors to ErrTooLarge, the rest to ErrCorrupt.
func cborErrKind(err error) error {
	var (
		nested *cbor.MaxNestedLevelError
		arr    *cbor.MaxArrayElementsError
		pairs  *cbor.MaxMapPairsError
	)
	if errors.As(err, &nested) || errors.As(err, &arr) || errors.As(err, &pairs) {
		return ErrTooLarge
	}
	return ErrCorrupt
}

// cborArray is CBOR major type 4.
const cborArray = 4 << 5

// appendArrayHead appends the shortest CBOR head of an array of n items.
func appendArrayHead(dst []byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(dst, cborArray|byte(n))
	case n <= math.MaxUint8:
		return append(dst, cborArray|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, cborArray|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, cborArray|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, cborArray|27), n)
}

// arrayHead reads a definite-length CBOR array head and returns its count.
func (r *reader) arrayHead() uint64 {
	b := r.fixed(1, "CBOR array head")
	if r.err != nil {
		return 0
	}
	if b[0]>>5 != cborArray>>5 {
		r.failAt(r.off-1, ErrCorrupt, "CBOR major type %d, want an array", b[0]>>5)
		return 0
	}
	info := b[0] & 31
	switch {
	case info < 24:
		return uint64(info)
	case info > 27:
		r.failAt(r.off-1, ErrCorrupt, "CBOR array head %#x: indefinite or reserved length", b[0])
		return 0
	}
	var buf [8]byte
	size := 1 << (info - 24)
	arg := r.fixed(size, "CBOR array length")
	copy(buf[8-size:], arg)
	return binary.BigEndian.Uint64(buf[:])
}
