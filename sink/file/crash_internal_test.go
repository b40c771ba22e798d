package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

var errCrashed = errors.New("crashed")

// crashFS is the operating system's file system until budget operations
// that change it have run; then the process is as good as dead: every
// further change fails and does nothing (deferred clean-ups included).
// Syncs are counted but not done: the test needs no durability, and
// fsync is slow.
type crashFS struct {
	budget int
	ops    int
}

// fastFS is a crashFS that never crashes.
func fastFS() *crashFS { return &crashFS{budget: 1 << 40} }

func (c *crashFS) step() error {
	if c.ops >= c.budget {
		return errCrashed
	}
	c.ops++
	return nil
}

func (c *crashFS) MkdirAll(path string) error {
	if err := c.step(); err != nil {
		return err
	}
	return osFS{}.MkdirAll(path)
}

func (c *crashFS) CreateTemp(dir, pattern string) (wfile, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &crashFile{f: f, fs: c}, nil
}

func (c *crashFS) Rename(o, n string) error {
	if err := c.step(); err != nil {
		return err
	}
	return os.Rename(o, n)
}

func (c *crashFS) RemoveAll(path string) error {
	if err := c.step(); err != nil {
		return err
	}
	return os.RemoveAll(path)
}

func (c *crashFS) SyncDir(dir string) error {
	if err := c.step(); err != nil {
		return err
	}
	return nil
}

// crashFile writes through its crashFS: a crash mid-file leaves what was
// written before it.
type crashFile struct {
	f  *os.File
	fs *crashFS
}

func (f *crashFile) Write(p []byte) (int, error) {
	if err := f.fs.step(); err != nil {
		// Half of it reaches the disk.
		n, _ := f.f.Write(p[:len(p)/2])
		return n, err
	}
	return f.f.Write(p)
}

func (f *crashFile) Name() string { return f.f.Name() }

func (f *crashFile) Chmod(m os.FileMode) error {
	if err := f.fs.step(); err != nil {
		return err
	}
	return f.f.Chmod(m)
}

func (f *crashFile) Sync() error {
	if err := f.fs.step(); err != nil {
		return err
	}
	return nil
}

// Close always closes the descriptor (the process's death would), but
// counts as a step.
func (f *crashFile) Close() error {
	err := f.fs.step()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fixture commits batches of an output: batch i (1-based) at i seconds,
// with i%3 partitions (0 to 2), whose lines are "<i>/<p>/<k>".
func fixture(t *testing.T, s *Sink[string], output string, from, to int) map[int64][]string {
	t.Helper()
	want := make(map[int64][]string)
	for i := from; i <= to; i++ {
		bt := time.UnixMilli(int64(i) * 1000)
		parts := i % 3
		var all []string
		for p := range parts {
			var recs []string
			for k := range p + 1 {
				recs = append(recs, fmt.Sprintf("%d/%d/%d", i, p, k))
			}
			all = append(all, recs...)
			if err := s.Write(context.Background(), sluice.OutputKey{Output: output, Batch: bt, Partition: p, Partitions: parts}, recs); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CommitBatch(context.Background(), output, bt, parts); err != nil {
			t.Fatal(err)
		}
		want[bt.UnixMilli()] = all
	}
	return want
}

// checkExactlyOnce checks that the output holds exactly the batches of
// want, each with its records once.
func checkExactlyOnce(t *testing.T, dir, output string, want map[int64][]string) {
	t.Helper()
	bs, err := ReadBatches(dir, output)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int64][]string)
	for i, b := range bs {
		if i > 0 && !bs[i-1].Time.Before(b.Time) {
			t.Fatalf("batch %d after batch %d", b.Time.UnixMilli(), bs[i-1].Time.UnixMilli())
		}
		var recs []string
		for _, l := range b.Lines() {
			var r string
			if _, err := fmt.Sscanf(string(l), "%q", &r); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			recs = append(recs, r)
		}
		got[b.Time.UnixMilli()] = recs
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for ms, w := range want {
		if g, ok := got[ms]; !ok || !slices.Equal(g, w) {
			t.Fatalf("batch %d: %q, want %q", ms, g, w)
		}
	}
}

// listing describes what a directory tree holds, for failure messages.
func listing(root string) string {
	var names []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			names = append(names, rel)
		}
		return nil
	})
	return strings.Join(names, " ")
}

// A compaction crashed at each of its steps in turn leaves an output that
// reads every batch exactly once; the next commit finishes it, and the
// output then still reads every batch once, with the due periods
// compacted and their batch directories gone.
func TestCompactionCrashAtEveryStep(t *testing.T) {
	const output = "o"
	// Periods of 10 s; batches 1..25 s; a commit at 25 s compacts
	// [0, 10) and [10, 20) with a settle of 5 s.
	prepare := func(t *testing.T) (string, *Sink[string], map[int64][]string) {
		dir := t.TempDir()
		s := New[string](dir, CompactSettle[string](5*time.Second))
		s.fs = fastFS()
		want := fixture(t, s, output, 1, 24)
		s.every = 10 * time.Second
		return dir, s, want
	}
	// A run without a crash counts the steps.
	dir, s, want := prepare(t)
	full := &crashFS{budget: 1 << 30}
	s.fs = full
	more := fixture(t, s, output, 25, 25)
	want[25000] = more[25000]
	checkExactlyOnce(t, dir, output, want)
	commitSteps := 0
	{ // the steps of the commit alone
		d2, s2, _ := prepare(t)
		c := &crashFS{budget: 1 << 30}
		s2.fs = c
		s2.every = 0
		fixture(t, s2, output, 25, 25)
		commitSteps = c.ops
		_ = d2
	}
	t.Logf("batch 25's commit takes %d steps, with the compaction %d", commitSteps, full.ops)
	if full.ops <= commitSteps+10 {
		t.Fatalf("the compaction took %d steps: it did not run?", full.ops-commitSteps)
	}
	root := filepath.Join(dir, output)
	if st, err := scanOutput(root); err != nil || len(st.compacts) != 2 || len(st.gens) != 6 {
		t.Fatalf("after the compaction: %d compacted, %d batches (%v); want 2 and 6 (20..25 s): %s", len(st.compacts), len(st.gens), err, listing(root))
	}

	for k := commitSteps; k < full.ops; k++ {
		t.Run(fmt.Sprint("crash-after-", k), func(t *testing.T) {
			dir, s, want := prepare(t)
			s.fs = &crashFS{budget: k}
			bt := time.UnixMilli(25000)
			if err := s.Write(context.Background(), sluice.OutputKey{Output: output, Batch: bt, Partition: 0, Partitions: 1}, []string{"25/0/0"}); err == nil {
				err = s.CommitBatch(context.Background(), output, bt, 1)
				if !errors.Is(err, errCrashed) {
					t.Fatalf("CommitBatch = %v, want a crash", err)
				}
			}
			// Batch 25 was committed (commitSteps steps ran).
			want[25000] = []string{"25/0/0"}
			checkExactlyOnce(t, dir, output, want)

			// The driver restarts and commits the next batch.
			s.fs = fastFS()
			more := fixture(t, s, output, 26, 26)
			want[26000] = more[26000]
			checkExactlyOnce(t, dir, output, want)
			root := filepath.Join(dir, output)
			st, err := scanOutput(root)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.stale) > 0 || len(st.gens) != 7 {
				t.Fatalf("after recovery: stale %v, %d batch directories (want 7, 20..26 s): %s", st.stale, len(st.gens), listing(root))
			}
			pend, _ := os.ReadDir(filepath.Join(root, pendingName))
			if len(pend) != 0 {
				t.Fatalf("after recovery _pending holds %s", listing(filepath.Join(root, pendingName)))
			}
		})
	}
}
