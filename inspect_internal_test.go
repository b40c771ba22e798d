package sluice

import (
	"encoding/json"
	"strconv"
	"testing"
)

type keyStruct struct {
	A string
	B int
}

// A key typed in the UI or on the command line parses as its type or is
// refused with an error; parsing never panics.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"", "12", "-3", "x", `{"A":"a","B":2}`, "1e3", "true", "18446744073709551616", `"q"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := parseKey[string](s); err != nil || k != s {
			t.Fatalf("string key %q: %q, %v", s, k, err)
		}
		if k, err := parseKey[int64](s); err == nil {
			if want, err := strconv.ParseInt(s, 10, 64); err != nil || k != want {
				t.Fatalf("int64 key %q read as %d", s, k)
			}
		}
		if _, err := parseKey[uint32](s); err == nil {
			if _, err := strconv.ParseUint(s, 10, 32); err != nil {
				t.Fatalf("uint32 key %q accepted", s)
			}
		}
		if k, err := parseKey[keyStruct](s); err == nil && !json.Valid([]byte(s)) {
			t.Fatalf("struct key %q accepted as %+v", s, k)
		}
		_, _ = parseKey[float64](s)
		_, _ = parseKey[bool](s)
	})
}
