package codec

import (
	"encoding"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"runtime"

	"github.com/fxamacker/cbor/v2"
)

// ErrNotPortable is wrapped by the error of a codec for a type whose values
// cannot leave the process without losing data: a struct (at any depth of
// the CBOR fallback) with an unexported field and no SluiceCodec, a field
// tagged "-", or a field hidden by a promoted MarshalBinary. It promises
// that nothing was encoded or decoded. Such a codec still exists, because
// local mode never encodes: see Portable.
var ErrNotPortable = errors.New("codec: type cannot leave the process")

// notPortable is an error wrapping ErrNotPortable with its own message.
type notPortable struct{ msg string }

func (e *notPortable) Error() string        { return e.msg }
func (e *notPortable) Is(target error) bool { return target == ErrNotPortable }

// Portable returns nil when c encodes every field of its records, or an
// error wrapping ErrNotPortable that names the type and field that would be
// lost. For returns such a codec instead of panicking, so that the record
// type still works where records stay in the process (local mode); its
// Append panics with that error and its Decode returns it. A runtime that
// moves records between processes should call Portable when the graph is
// built and refuse the job, so that the error comes before any task runs.
// Codecs not made by this package are taken as portable.
func Portable[T any](c Codec[T]) error { return errOf(c) }

func errOf[T any](c Codec[T]) error {
	switch c := c.(type) {
	case *batch[T]:
		return c.err
	case *foreignLimit[T]:
		return errOf(c.c)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var (
	cborMarshaler     = reflect.TypeFor[cbor.Marshaler]()
	cborUnmarshaler   = reflect.TypeFor[cbor.Unmarshaler]()
	binaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	bigIntType        = reflect.TypeFor[big.Int]()
)

// hint says how a user type (whose package cannot import this one) can
// travel.
const hint = "export the field, or give the type MarshalBinary and UnmarshalBinary methods"

// portability reports why the CBOR fallback would lose data of type root,
// or nil. It follows the rules of the cbor package (like encoding/json's):
// only exported fields are encoded, the exported fields of an embedded
// unexported struct are promoted, a field tagged `cbor:"-"` (or, without a
// cbor tag, `json:"-"`) is skipped, and a type whose pointer has a
// MarshalCBOR or MarshalBinary method is encoded by that method alone.
// SluiceCodec methods of nested types are not used by CBOR, so they do not
// cover their fields here. Interface fields are not checked: their dynamic
// values are encoded, and decode as generic CBOR values.
func portability(root reflect.Type) error {
	w := &walker{root: root, seen: make(map[reflect.Type]bool)}
	return w.walk(root, "")
}

type walker struct {
	root reflect.Type
	seen map[reflect.Type]bool // types checked or being checked (recursive types)
}

// fail builds the error for a problem in struct type t at path (a field
// path from root, empty for root itself).
func (w *walker) fail(t reflect.Type, path, format string, args ...any) error {
	msg := fmt.Sprintf("codec: type %s %s: it cannot leave the process", t, fmt.Sprintf(format, args...))
	if t != w.root {
		msg += fmt.Sprintf(" (record type %s, at %s)", w.root, path)
	}
	return &notPortable{msg: msg}
}

// failHint is fail, with the hint after the message.
func (w *walker) failHint(t reflect.Type, path, format string, args ...any) error {
	err := w.fail(t, path, format, args...).(*notPortable)
	err.msg += " (" + hint + ")"
	return err
}

func (w *walker) walk(t reflect.Type, path string) error {
	if w.seen[t] {
		return nil
	}
	w.seen[t] = true
	if t == timeType || t == bigIntType {
		return nil
	}
	if selfMarshaled(t) {
		if err := w.unmarshaler(t, path); err != nil {
			return err
		}
		return w.promotedMarshaler(t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(t.Elem(), path)
	case reflect.Slice, reflect.Array:
		return w.walk(t.Elem(), path+"[]")
	case reflect.Map:
		return firstErr(w.walk(t.Key(), path+"[key]"), w.walk(t.Elem(), path+"[]"))
	case reflect.Struct:
		return w.fields(t, path)
	}
	return nil
}

// fields checks the fields of struct type t.
func (w *walker) fields(t reflect.Type, path string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		at := path + "." + f.Name
		if !f.IsExported() {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				// cbor promotes its exported fields; its unexported ones
				// are found by the walk.
				if err := w.walk(f.Type, at); err != nil {
					return err
				}
				continue
			}
			if f.Anonymous && f.Type.Kind() == reflect.Pointer {
				return w.fail(t, path, "embeds pointer %s to an unexported type, which CBOR cannot decode", f.Type)
			}
			return w.failHint(t, path, "has unexported field %s and no SluiceCodec", f.Name)
		}
		tag, ok := f.Tag.Lookup("cbor")
		if !ok {
			tag = f.Tag.Get("json")
		}
		if tag == "-" {
			return w.fail(t, path, "has field %s tagged %q, which CBOR skips", f.Name, "-")
		}
		if err := w.walk(f.Type, at); err != nil {
			return err
		}
	}
	return nil
}

// selfMarshaled reports whether cbor encodes t with a method of its own.
func selfMarshaled(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(cborMarshaler) || pt.Implements(binaryMarshaler)
}

// unmarshaler checks that a type encoded by its own method can be decoded
// by the matching one: cbor would otherwise decode its fields from the
// method's output, which fails or, worse, fits.
func (w *walker) unmarshaler(t reflect.Type, path string) error {
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(cborMarshaler) && !pt.Implements(cborUnmarshaler):
		return w.fail(t, path, "has MarshalCBOR but no UnmarshalCBOR")
	case !pt.Implements(cborMarshaler) && !pt.Implements(binaryUnmarshaler):
		return w.fail(t, path, "has MarshalBinary but no UnmarshalBinary")
	}
	return nil
}

// promotedMarshaler catches a struct that has a MarshalCBOR or
// MarshalBinary method only because it embeds a type that has one (say,
// time.Time): cbor calls that method, which encodes the embedded value
// alone, and the struct's other fields are lost. A method of the struct's
// own (whose code is not a compiler-generated wrapper) is trusted.
func (w *walker) promotedMarshaler(t reflect.Type, path string) error {
	if t.Kind() != reflect.Struct || t.NumField() < 2 {
		return nil
	}
	for _, name := range []string{"MarshalCBOR", "MarshalBinary"} {
		// A value method is looked up on t: through *t, even a method
		// written for t has a generated wrapper.
		m, ok := t.MethodByName(name)
		if !ok {
			m, ok = reflect.PointerTo(t).MethodByName(name)
		}
		if !ok || !generated(m) {
			continue
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.Anonymous && selfMarshaled(f.Type) {
				return w.fail(t, path, "gets %s from its embedded field %s, which encodes that field alone: "+
					"its other fields would be lost; give it a SluiceCodec or its own %s", name, f.Name, name)
			}
		}
	}
	return nil
}

// generated reports whether method m's code is a compiler-generated
// wrapper (a promoted method), as opposed to one written for the type.
func generated(m reflect.Method) bool {
	fn := runtime.FuncForPC(m.Func.Pointer())
	if fn == nil {
		return true
	}
	file, _ := fn.FileLine(fn.Entry())
	return file == "<autogenerated>"
}
