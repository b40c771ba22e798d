package file

import (
	"encoding/json"
	"strings"
	"testing"
)

var goodManifest = `{"version":1,"start_ms":0,"end_ms":4000,"bytes":12,
"batches":[{"t_ms":1000,"lines":[1,0],"bytes":4,"sha256":"` + zeros + `"},
{"t_ms":3000,"lines":[2],"bytes":8,"sha256":"` + zeros + `"}]}`

var zeros = strings.Repeat("00", 32)

func TestParseManifest(t *testing.T) {
	m, err := parseManifest([]byte(goodManifest))
	if err != nil || len(m.Batches) != 2 || m.Batches[1].Lines[0] != 2 {
		t.Fatalf("parseManifest = %+v, %v", m, err)
	}
	for _, bad := range []string{
		strings.Replace(goodManifest, `"version":1`, `"version":2`, 1),
		strings.Replace(goodManifest, `"bytes":12`, `"bytes":13`, 1),
		strings.Replace(goodManifest, `"t_ms":3000`, `"t_ms":1000`, 1),
		strings.Replace(goodManifest, `"t_ms":3000`, `"t_ms":4000`, 1),
		strings.Replace(goodManifest, `"lines":[2]`, `"lines":[-2]`, 1),
		strings.Replace(goodManifest, `"lines":[2]`, `"lines":[9]`, 1),
		strings.Replace(goodManifest, zeros, "00", 1),
		strings.Replace(goodManifest, `"end_ms":4000`, `"end_ms":0`, 1),
		strings.Replace(goodManifest, `"version"`, `"extra":1,"version"`, 1),
		goodManifest + "{}",
		goodManifest[:40],
		`{"version":1,"start_ms":0,"end_ms":1,"bytes":0,"batches":[]}`,
	} {
		if _, err := parseManifest([]byte(bad)); err == nil {
			t.Errorf("parseManifest accepted %s", bad)
		}
	}
}

// FuzzManifest checks that a manifest either is refused or is one that
// the reader can follow: encoded again, it parses to the same.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"start_ms":-5,"end_ms":5,"bytes":0,"batches":[{"t_ms":-1,"lines":[],"bytes":0,"sha256":"` + zeros + `"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := parseManifest(again)
		if err != nil {
			t.Fatalf("%s parsed, but not once encoded again: %v", b, err)
		}
		var total int64
		for _, mb := range m2.Batches {
			if mb.Time < m2.Start || mb.Time >= m2.End {
				t.Fatalf("batch %d outside [%d, %d)", mb.Time, m2.Start, m2.End)
			}
			total += mb.Bytes
		}
		if total != m2.Bytes {
			t.Fatalf("%d bytes in batches, %d in all", total, m2.Bytes)
		}
	})
}

// FuzzNames checks that batch and compacted directory names parse back
// to what names them, and nothing else does.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"1000", "1000.1", "-5", "1000.0", "01000", "compact-0-1", "compact--3000-2", "compact-1-01", "_pending"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ms, gen, ok := parseBatchName(s); ok && batchName(ms, gen) != s {
			t.Fatalf("%q parses to batch %d generation %d, named %q", s, ms, gen, batchName(ms, gen))
		}
		if start, seq, ok := parseCompactName(s); ok && compactName(start, seq) != s {
			t.Fatalf("%q parses to period %d seq %d", s, start, seq)
		}
	})
}
