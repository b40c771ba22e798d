package file_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sluicetest"
)

// A batch committed again (a driver that restarted before its metadata
// checkpoint plans it again, maybe over more input) replaces the first
// commit whole: readers see the new records, once.
func TestCommitAgainReplaces(t *testing.T) {
	dir := t.TempDir()
	s := file.New[string](dir)
	write := func(recs ...[]string) {
		t.Helper()
		for p, r := range recs {
			if err := s.Write(ctx, key("r", 1000, p, len(recs)), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CommitBatch(ctx, "r", time.UnixMilli(1000), len(recs)); err != nil {
			t.Fatal(err)
		}
	}
	write([]string{"a"}, []string{"b"})
	write([]string{"a", "c"}, []string{"b"}, []string{"d"})
	bs, err := file.ReadBatches(dir, "r")
	if err != nil || len(bs) != 1 || fmt.Sprint(lines(bs[0])) != `[["a" "c"] ["b"] ["d"]]` {
		t.Fatalf("ReadBatches = %v, %v", bs, err)
	}
	if got := ls(t, filepath.Join(dir, "r")); !slices.Equal(got, []string{"1000.1", "_pending"}) {
		t.Fatalf("output holds %q, want the second generation alone", got)
	}
	write([]string{"x"})
	if got := ls(t, filepath.Join(dir, "r")); !slices.Equal(got, []string{"1000.2", "_pending"}) {
		t.Fatalf("output holds %q, want the third generation alone", got)
	}
}

// compactJob writes batches of numbers to a compacting sink; batch i
// holds i*10 .. i*10+i-1 in two partitions.
func compactWrite(t *testing.T, s *file.Sink[int], from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		var recs [2][]int
		for k := range i {
			recs[k%2] = append(recs[k%2], i*10+k)
		}
		for p := range 2 {
			if err := s.Write(ctx, key("n", int64(i)*1000, p, 2), recs[p]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CommitBatch(ctx, "n", time.UnixMilli(int64(i)*1000), 2); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompactPeriods(t *testing.T) {
	dir := t.TempDir()
	s := file.New(dir, file.Compact[int](4*time.Second), file.CompactSettle[int](2*time.Second))
	compactWrite(t, s, 1, 11)
	// [0,4) and [4,8) are due at 6 s and 10 s; [8,12) is not yet.
	got := ls(t, filepath.Join(dir, "n"))
	want := []string{"10000", "11000", "8000", "9000", "_pending", "compact-0-1", "compact-4000-1"}
	if !slices.Equal(got, want) {
		t.Fatalf("output holds %q, want %q", got, want)
	}
	m := readFile(t, filepath.Join(dir, "n", "compact-4000-1", file.ManifestName))
	for _, w := range []string{`"start_ms": 4000`, `"end_ms": 8000`, `"t_ms": 7000`, `"sha256"`} {
		if !strings.Contains(m, w) {
			t.Errorf("manifest %s lacks %s", m, w)
		}
	}
	bs, err := file.ReadBatches(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 11 {
		t.Fatalf("%d batches, want 11", len(bs))
	}
	for i, b := range bs {
		n := i + 1
		if b.Time.UnixMilli() != int64(n)*1000 || len(b.Parts) != 2 {
			t.Fatalf("batch %d: %v with %d parts", n, b.Time, len(b.Parts))
		}
		recs, err := file.Decode[int](b.Lines())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(recs)
		for k, r := range recs {
			if r != n*10+k || len(recs) != n {
				t.Fatalf("batch %d holds %v", n, recs)
			}
		}
		if want := (n + 1) / 2; len(b.Parts[0]) != want {
			t.Fatalf("batch %d: partition 0 has %d lines, want %d (the partitions survive compaction)", n, len(b.Parts[0]), want)
		}
	}

	// A compacted batch run again with the same records is dropped; with
	// others, the commit fails and the compacted ones stay.
	compactWrite(t, s, 5, 5)
	if err := s.Write(ctx, key("n", 6000, 0, 1), []int{1}); err != nil {
		t.Fatal(err)
	}
	err = s.CommitBatch(ctx, "n", time.UnixMilli(6000), 1)
	if err == nil || !strings.Contains(err.Error(), "compacted, with other records") {
		t.Fatalf("CommitBatch of a compacted batch with other records = %v", err)
	}
	if again, err := file.ReadBatches(dir, "n"); err != nil || len(again) != 11 || fmt.Sprint(again[5].Lines()) != fmt.Sprint(bs[5].Lines()) {
		t.Fatalf("after the reruns: %v, %v", again, err)
	}
	// A late batch in a compacted period gets a second compacted file.
	compactWrite(t, s, 3, 3)
	s2 := file.New(dir, file.Compact[int](4*time.Second), file.CompactSettle[int](2*time.Second))
	if err := s2.Write(ctx, key("n", 500, 0, 1), []int{-1}); err != nil {
		t.Fatal(err)
	}
	if err := s2.CommitBatch(ctx, "n", time.UnixMilli(500), 1); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, filepath.Join(dir, "n")); !slices.Contains(got, "compact-0-2") || slices.Contains(got, "500") {
		t.Fatalf("output holds %q, want compact-0-2 with batch 500", got)
	}
	bs, err = file.ReadBatches(dir, "n")
	if err != nil || len(bs) != 12 || bs[0].Time.UnixMilli() != 500 {
		t.Fatalf("ReadBatches = %d batches, %v", len(bs), err)
	}
}

// Through a real context: a compacting sink's output read back equals
// what the job produced, batch by batch.
func TestCompactEndToEnd(t *testing.T) {
	dir := sharedDir(t)
	h := sluicetest.New(t, time.Second)
	var batches [][]sale
	for i := range 12 {
		var b []sale
		for k := range i % 4 {
			b = append(b, sale{Shop: fmt.Sprint("s", i), Cents: k})
		}
		batches = append(batches, b)
	}
	in := sluicetest.Input(h, 2, batches...)
	sink := file.New(filepath.Join(dir, "out"), file.Compact[sale](3*time.Second), file.CompactSettle[sale](2*time.Second))
	sluice.WriteTo(in, sink, sluice.Named("sales"))
	want := sluicetest.Collect(in)
	h.Run(12)
	bs, err := file.ReadBatches(sink.Dir(), "sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 12 {
		t.Fatalf("%d batches, want 12", len(bs))
	}
	for i, b := range bs {
		got, err := file.Decode[sale](b.Lines())
		if err != nil {
			t.Fatal(err)
		}
		if w := want.Batches()[i]; !slices.Equal(got, w) {
			t.Errorf("batch %d: %v, want %v", i+1, got, w)
		}
	}
	var compacted int
	for _, n := range ls(t, filepath.Join(sink.Dir(), "sales")) {
		if strings.HasPrefix(n, "compact-") {
			compacted++
		}
	}
	// Batches 1..12 s; periods [0,3) .. [6,9) are due by 12 s.
	if compacted != 3 {
		t.Errorf("%d compacted periods, want 3", compacted)
	}
}
