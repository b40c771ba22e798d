package sluice

import (
	"bytes"
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
