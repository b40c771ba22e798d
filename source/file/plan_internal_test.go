package file

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// A directory that grows by random files, some of them late (written
// before newer ones appear) and some rewritten, planned batch after
// batch: every version of every file is read exactly once, as long as
// none is later than Lookback.
func TestPlanReadsEveryFileOnce(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		cfg := planConfig{maxFiles: 1 + r.IntN(5), maxBytes: int64(10 + r.IntN(200)), lookback: 50, maxSeen: 1000}
		if seed%3 == 0 {
			cfg.splitSize = int64(1 + r.IntN(30))
		}
		dir := map[string]File{}
		read := map[File]int{}
		var p Plan
		has := false
		now := int64(1000)
		for step := range 120 {
			now += int64(r.IntN(20))
			if step < 90 {
				for range r.IntN(4) {
					name := fmt.Sprintf("f%d", r.IntN(60))
					if _, ok := dir[name]; ok && r.IntN(4) > 0 {
						continue // most files are never rewritten
					}
					dir[name] = File{Name: name, Size: int64(r.IntN(40)), ModTime: now - int64(r.IntN(40))}
				}
			}
			var listing []File
			for _, f := range dir {
				listing = append(listing, f)
			}
			r.Shuffle(len(listing), func(i, j int) { listing[i], listing[j] = listing[j], listing[i] })
			p = plan(p, has, listing, cfg)
			has = true
			if len(p.Files) > cfg.maxFiles {
				t.Fatalf("seed %d: %d files in a batch, more than %d", seed, len(p.Files), cfg.maxFiles)
			}
			for _, f := range p.Files {
				read[f]++
			}
			checkParts(t, p, cfg.splitSize)
		}
		for _, f := range dir {
			if read[f] != 1 {
				t.Fatalf("seed %d: %+v read %d times", seed, f, read[f])
			}
		}
		for f, n := range read {
			if n != 1 {
				t.Fatalf("seed %d: %+v read %d times", seed, f, n)
			}
		}
	}
}

// checkParts checks that a plan's parts cover each non-empty file once.
func checkParts(t *testing.T, p Plan, split int64) {
	t.Helper()
	next := make([]int64, len(p.Files))
	for _, pt := range p.Parts {
		if pt.Start != next[pt.File] || pt.End <= pt.Start || (split > 0 && pt.End-pt.Start > split) {
			t.Fatalf("part %+v of %+v", pt, p.Files)
		}
		next[pt.File] = pt.End
	}
	for i, f := range p.Files {
		if next[i] != f.Size {
			t.Fatalf("parts cover %d bytes of %+v", next[i], f)
		}
	}
}

func TestPlanSkipExistingAndLookback(t *testing.T) {
	cfg := planConfig{maxFiles: 10, maxBytes: 1 << 20, lookback: 100, maxSeen: 1000, skipFirst: true}
	old := []File{{Name: "a", Size: 1, ModTime: 1000}, {Name: "b", Size: 1, ModTime: 1010}}
	p := plan(Plan{}, false, old, cfg)
	if len(p.Files) != 0 || len(p.Seen) != 2 || p.Latest != 1010 {
		t.Fatalf("first plan with SkipExisting: %+v", p)
	}
	// c is late but within Lookback; d is too late; a is unchanged.
	listing := append(old, File{Name: "c", Size: 1, ModTime: 950}, File{Name: "d", Size: 1, ModTime: 900}, File{Name: "e", Size: 1, ModTime: 2000})
	p = plan(p, true, listing, cfg)
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"c", "e"}) {
		t.Fatalf("second plan reads %v, want c and e", names)
	}
	if p.Floor != 1900 || len(p.Seen) != 1 {
		t.Fatalf("floor %d, seen %+v: want 1900 and e alone", p.Floor, p.Seen)
	}
	// The plan stays bounded: MaxSeen raises the floor.
	cfg.maxSeen = 3
	var many []File
	for i := range 10 {
		many = append(many, File{Name: fmt.Sprint("m", i), Size: 1, ModTime: 3000 + int64(i)})
	}
	p = plan(p, true, many, cfg)
	if len(p.Files) != 10 || len(p.Seen) != 3 || p.Floor != 3007 {
		t.Fatalf("with MaxSeen 3: %d files, seen %+v, floor %d", len(p.Files), p.Seen, p.Floor)
	}
	if again := plan(p, true, many, cfg); len(again.Files) != 0 {
		t.Fatalf("the same listing again reads %+v", again.Files)
	}
}

// readAll reads the lines of data split into parts of split bytes (0:
// one part), as Read would, with their offsets.
func readAll(t testing.TB, data []byte, split int64, max int) (lines []string, offs []int64) {
	f := File{Size: int64(len(data))}
	for _, pt := range split1(f, split) {
		from := max0(pt.Start - 1)
		lr, err := newLineReader(bytes.NewReader(data[from:]), pt.Start, pt.End, max)
		if err != nil {
			t.Fatal(err)
		}
		for {
			l, at, tooLong, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l) > max || (tooLong && len(l) != max) {
				t.Fatalf("line of %d bytes (tooLong %v), max %d", len(l), tooLong, max)
			}
			lines = append(lines, string(l))
			offs = append(offs, at)
		}
	}
	return lines, offs
}

func split1(f File, n int64) []Part { return split([]File{f}, n) }

func max0(x int64) int64 { return max(x, 0) }

// wantLines is the reference: strings.Split.
func wantLines(data []byte, max int) []string {
	if len(data) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(data), "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if len(l) > max {
			l = l[:max]
		}
		out = append(out, l)
	}
	return out
}

func checkSplits(t testing.TB, data []byte, max int) {
	want := wantLines(data, max)
	splits := []int64{0}
	for n := int64(1); n <= int64(len(data))+1; n++ {
		if (n <= 40 && len(data) < 1000) || n%4099 == 0 || n >= int64(len(data))-2 {
			splits = append(splits, n)
		}
	}
	for _, split := range splits {
		got, offs := readAll(t, data, split, max)
		if !slices.Equal(got, want) {
			t.Fatalf("split %d of %q: %q, want %q", split, data, got, want)
		}
		for i, at := range offs {
			if at != 0 && data[at-1] != '\n' {
				t.Fatalf("split %d: line %d at %d does not start a line", split, i, at)
			}
		}
	}
}

func TestLinesEverySplit(t *testing.T) {
	for _, s := range []string{"", "a", "a\n", "\n", "\n\n", "ab\ncd\n\nef", "x\r\ny\r\n", "long line here\nb\nlonger line again\n", strings.Repeat("z", 70000) + "\nq\n"} {
		checkSplits(t, []byte(s), 8)
	}
}

// FuzzLines checks that whatever a file holds and however it is split,
// the parts read each line once (cut at the maximum length).
func FuzzLines(f *testing.F) {
	for _, s := range []string{"", "a\nb\n", "\r\n\r\n", "αβγ\n\xff\xfe\n", "no newline", strings.Repeat("ab\n", 20)} {
		f.Add([]byte(s), uint8(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		if len(data) > 300 {
			return
		}
		checkSplits(t, data, int(max)+1)
	})
}

// FuzzCSV checks that the CSV reader never panics, gives every record a
// line and its raw bytes from the input, and ends.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\"x\ny\",2\n3,4", "a,\"b\n", "a,b\n1\n2,3\n", "\xff,1\n", "\"a\"\"b\",c\r\n"} {
		f.Add([]byte(s), uint8(10))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		c := newCSVReader(bytes.NewReader(data), ',', 0, int(max)+1)
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more records than bytes in %q", data)
			}
			rec, err := c.next()
			if err != nil {
				return
			}
			if rec.line < 1 || !bytes.Contains(data, rec.raw) {
				t.Fatalf("record %+v of %q", rec, data)
			}
			if (rec.err == nil) == (rec.fields == nil) {
				t.Fatalf("record %+v: fields and error", rec)
			}
		}
	})
}

var _ = time.Second
