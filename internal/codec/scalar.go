package codec

import (
	"encoding/binary"
	"math"
	"reflect"
	"time"
	"unsafe"
)

// signed and unsigned are the integer types with fast paths.
type (
	signed interface {
		~int | ~int8 | ~int16 | ~int32 | ~int64
	}
	unsigned interface {
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
	}
)

// stringElem is a uvarint length and the bytes.
type stringElem struct{}

func (stringElem) minSize() int { return 1 }

func (stringElem) appendOne(dst []byte, v string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
}

func (stringElem) read(r *reader) string {
	n := r.count(1, r.lim.MaxElemBytes, "string length")
	if r.err != nil {
		return ""
	}
	return string(r.next(n))
}

// bytesElem is a uvarint length and the bytes. Decoded slices are copies
// (never nil, possibly empty), so the input buffer may be reused.
type bytesElem struct{}

func (bytesElem) minSize() int { return 1 }

func (bytesElem) appendOne(dst []byte, v []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
}

func (bytesElem) read(r *reader) []byte {
	n := r.count(1, r.lim.MaxElemBytes, "bytes length")
	if r.err != nil {
		return nil
	}
	out := make([]byte, n)
	copy(out, r.next(n))
	return out
}

// boolElem is one byte, 0 or 1.
type boolElem struct{}

func (boolElem) minSize() int { return 1 }

func (boolElem) appendOne(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (boolElem) read(r *reader) bool {
	b := r.fixed(1, "bool")
	if r.err != nil {
		return false
	}
	if b[0] > 1 {
		r.failAt(r.off-1, ErrCorrupt, "bool byte %#x", b[0])
	}
	return b[0] == 1
}

// intElem is a zigzag varint; decoding rejects values that do not fit T.
type intElem[T signed] struct{}

func (intElem[T]) minSize() int { return 1 }

func (intElem[T]) appendOne(dst []byte, v T) []byte {
	return binary.AppendVarint(dst, int64(v))
}

func (intElem[T]) read(r *reader) T {
	start := r.off
	v := r.varint()
	if int64(T(v)) != v {
		r.failAt(start, ErrCorrupt, "%d overflows %s", v, typeName[T]())
		return 0
	}
	return T(v)
}

// uintElem is a uvarint; decoding rejects values that do not fit T.
type uintElem[T unsigned] struct{}

func (uintElem[T]) minSize() int { return 1 }

func (uintElem[T]) appendOne(dst []byte, v T) []byte {
	return binary.AppendUvarint(dst, uint64(v))
}

func (uintElem[T]) read(r *reader) T {
	start := r.off
	v := r.uvarint()
	if uint64(T(v)) != v {
		r.failAt(start, ErrCorrupt, "%d overflows %s", v, typeName[T]())
		return 0
	}
	return T(v)
}

// float32Elem is the IEEE 754 bits, little endian; NaN payloads survive.
type float32Elem struct{}

func (float32Elem) minSize() int { return 4 }

func (float32Elem) appendOne(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

func (float32Elem) read(r *reader) float32 {
	b := r.fixed(4, "float32")
	if r.err != nil {
		return 0
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

// float64Elem is the IEEE 754 bits, little endian; NaN payloads survive.
type float64Elem struct{}

func (float64Elem) minSize() int { return 8 }

func (float64Elem) appendOne(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

func (float64Elem) read(r *reader) float64 {
	b := r.fixed(8, "float64")
	if r.err != nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// timeElem is Unix seconds (zigzag varint) then nanoseconds (uvarint,
// below 1e9). This covers every time.Time, unlike UnixNano (years
// 1678-2262). Decoded times are in UTC without a monotonic reading, so they
// are Equal to the encoded ones but not ==.
type timeElem struct{}

func (timeElem) minSize() int { return 2 }

func (timeElem) appendOne(dst []byte, v time.Time) []byte {
	dst = binary.AppendVarint(dst, v.Unix())
	return binary.AppendUvarint(dst, uint64(v.Nanosecond()))
}

func (timeElem) read(r *reader) time.Time {
	start := r.off
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		r.failAt(start, ErrCorrupt, "time nanoseconds %d", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// fastElem returns the hand-written elem for T, or nil.
func fastElem[T any]() elem[T] {
	if e := exactElem[T](); e != nil {
		return e
	}
	return kindElem[T](reflect.TypeFor[T]())
}

// exactElem returns the fast-path elem when T is exactly a supported type.
func exactElem[T any]() elem[T] {
	var e any
	switch any(*new(T)).(type) {
	case string:
		e = stringElem{}
	case []byte:
		e = bytesElem{}
	case bool:
		e = boolElem{}
	case int:
		e = intElem[int]{}
	case int8:
		e = intElem[int8]{}
	case int16:
		e = intElem[int16]{}
	case int32:
		e = intElem[int32]{}
	case int64:
		e = intElem[int64]{}
	case uint:
		e = uintElem[uint]{}
	case uint8:
		e = uintElem[uint8]{}
	case uint16:
		e = uintElem[uint16]{}
	case uint32:
		e = uintElem[uint32]{}
	case uint64:
		e = uintElem[uint64]{}
	case uintptr:
		e = uintElem[uintptr]{}
	case float32:
		e = float32Elem{}
	case float64:
		e = float64Elem{}
	case time.Time:
		e = timeElem{}
	case time.Duration:
		e = intElem[time.Duration]{}
	}
	x, _ := e.(elem[T])
	return x
}

// kindElem gives a named type (type UserID string) the fast path of its
// underlying type, so it encodes exactly like that type.
func kindElem[T any](rt reflect.Type) elem[T] {
	switch rt.Kind() {
	case reflect.String:
		return castTo[T, string]()
	case reflect.Bool:
		return castTo[T, bool]()
	case reflect.Int:
		return castTo[T, int]()
	case reflect.Int8:
		return castTo[T, int8]()
	case reflect.Int16:
		return castTo[T, int16]()
	case reflect.Int32:
		return castTo[T, int32]()
	case reflect.Int64:
		return castTo[T, int64]()
	case reflect.Uint:
		return castTo[T, uint]()
	case reflect.Uint8:
		return castTo[T, uint8]()
	case reflect.Uint16:
		return castTo[T, uint16]()
	case reflect.Uint32:
		return castTo[T, uint32]()
	case reflect.Uint64:
		return castTo[T, uint64]()
	case reflect.Uintptr:
		return castTo[T, uintptr]()
	case reflect.Float32:
		return castTo[T, float32]()
	case reflect.Float64:
		return castTo[T, float64]()
	case reflect.Slice:
		if rt.Elem().Kind() == reflect.Uint8 {
			return castTo[T, []byte]()
		}
	}
	return nil
}

func castTo[T, U any]() elem[T] { return castElem[T, U]{e: exactElem[U]()} }

// castElem runs the elem of U on a T whose underlying type has U's memory
// layout (kindElem checks this when the codec is built). Generic code cannot
// convert between such types without a constraint, hence unsafe.
type castElem[T, U any] struct{ e elem[U] }

func (c castElem[T, U]) minSize() int { return c.e.minSize() }

func (c castElem[T, U]) appendOne(dst []byte, v T) []byte {
	return c.e.appendOne(dst, as[U](v))
}

func (c castElem[T, U]) read(r *reader) T { return as[T](c.e.read(r)) }

// as reinterprets v as a U. Callers guarantee identical memory layouts.
func as[U, T any](v T) U { return *(*U)(unsafe.Pointer(&v)) }
