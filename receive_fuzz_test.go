package sluice

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadLines checks the line decoder of SocketText and TextFiles: it
// never panics, emits only valid UTF-8 lines within MaxLineBytes, reports
// every line it drops, and emits exactly the input's lines when all are
// good.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a b\nc\r\n\nlast"))
	f.Add([]byte("bad \xff byte\nok\n"))
	f.Add(bytes.Repeat([]byte("x"), MaxLineBytes+5))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var lines []string
		dropped := 0
		err := readLines(bytes.NewReader(in), func(s string) { lines = append(lines, s) }, func(error) { dropped++ })
		if err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		for _, l := range lines {
			if !utf8.ValidString(l) || len(l) > MaxLineBytes || strings.ContainsRune(l, '\n') {
				t.Fatalf("bad line emitted: %.80q", l)
			}
		}
		want := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
		if len(in) == 0 {
			want = nil
		}
		if len(lines)+dropped != len(want) {
			t.Fatalf("%d lines emitted + %d dropped, input has %d", len(lines), dropped, len(want))
		}
		if dropped == 0 {
			for i, l := range want {
				if strings.TrimSuffix(l, "\r") != lines[i] {
					t.Fatalf("line %d: got %.80q (%d bytes), want %.80q (%d bytes)", i, lines[i], len(lines[i]), l, len(l))
				}
			}
		}
	})
}

// FuzzReadRequest checks an HTTPJSON receiver's body decoder with a
// dead-letter sink: it never panics, every non-blank line is either a
// record or a bad record naming its line, and a bad record holds the
// line as sent (cut to MaxLineBytes).
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"a\":\n\xff\n"))
	f.Add([]byte("[1,2]\r\n{\"a\":\"x\"}"))
	f.Add(bytes.Repeat([]byte("{"), MaxLineBytes+3))
	type rec struct{ A int }
	decode := func(line []byte) (rec, error) {
		var v rec
		err := json.Unmarshal(line, &v)
		return v, err
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		items, nbad, err := readRequest(r, bytes.NewReader(in), true, func(_ *http.Request, n int, line []byte, lerr error) (httpItem[rec], error) {
			if lerr == nil {
				v, derr := decode(line)
				if derr == nil {
					return httpItem[rec]{Rec: v}, nil
				}
				lerr = derr
			}
			return httpItem[rec]{Bad: &BadRecord{Position: fmt.Sprintf("line %d", n), Value: bytes.Clone(line), Error: lerr.Error()}}, nil
		})
		if err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		lines := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
		if len(in) == 0 {
			lines = nil
		}
		nonBlank, bads := 0, 0
		for _, l := range lines {
			l = strings.TrimSuffix(l, "\r")
			if len(l) > MaxLineBytes || !utf8.ValidString(l) || len(bytes.TrimSpace([]byte(l))) > 0 {
				nonBlank++
			}
		}
		for _, it := range items {
			if it.Bad != nil {
				bads++
				if len(it.Bad.Value) > MaxLineBytes || it.Bad.Error == "" {
					t.Fatalf("bad record %q: %s", it.Bad.Value[:min(len(it.Bad.Value), 40)], it.Bad.Error)
				}
			}
		}
		if bads != nbad || len(items) != nonBlank {
			t.Fatalf("%d items (%d bad, counted %d) for %d non-blank lines", len(items), bads, nbad, nonBlank)
		}
	})
}
