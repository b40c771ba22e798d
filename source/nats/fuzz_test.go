package nats_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	natssrc "github.com/sluicehq/sluice/source/nats"
)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1970-01-01T00:00:01.25Z", "2026-11-28T20:59:03.123456789+02:00", "", "2026-13-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := natssrc.ParseTime(s)
		if err != nil {
			return
		}
		back, err := natssrc.ParseTime(natssrc.FormatTime(tm))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q parsed as %v, formatted as %q, parsed back as %v, %v", s, tm, natssrc.FormatTime(tm), back, err)
		}
	})
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"hello", "", "\xff\xfe", "héllo wörld", "a\x00b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := natssrc.Text(natssrc.Msg{Data: b})
		if (err == nil) != utf8.Valid(b) || err == nil && s != string(b) {
			t.Fatalf("Text(%q) = %q, %v", b, s, err)
		}
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"id":1,"item":"tea","cents":300}`, `{"id":3,"item":`, `null`, `[]`, `{"id":1e400}`, `{"item":"\ud800"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := natssrc.JSON[order](natssrc.Msg{Data: b})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "nats: ") {
				t.Fatalf("JSON(%q): error %q without the package's prefix", b, err)
			}
			return
		}
		enc, _ := json.Marshal(o)
		again, err := natssrc.JSON[order](natssrc.Msg{Data: enc})
		if err != nil || again != o {
			t.Fatalf("%q decoded as %+v, which encodes as %s and decodes as %+v, %v", b, o, enc, again, err)
		}
	})
}

// FuzzPlanRange checks that the partitions of any plan cover its range
// exactly, in order, without overflow.
func FuzzPlanRange(f *testing.F) {
	f.Add(uint64(1), uint64(11), 3)
	f.Add(uint64(0), ^uint64(0), 4096)
	f.Add(uint64(5), uint64(5), 1)
	f.Fuzz(func(t *testing.T, from, to uint64, parts int) {
		if parts <= 0 || parts > 4096 || to < from {
			return
		}
		p := natssrc.Plan{From: from, To: to, Parts: parts}
		next := from
		for part := range parts {
			lo, hi := p.Range(part)
			if lo != next || hi < lo || hi > to {
				t.Fatalf("%+v: part %d is [%d, %d), want it to start at %d and end by %d", p, part, lo, hi, next, to)
			}
			next = hi
		}
		if next != to {
			t.Fatalf("%+v: the parts end at %d", p, next)
		}
	})
}
