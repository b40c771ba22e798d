package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tempFiles returns the temporary files under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var temps []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(de.Name(), tempMark) {
			temps = append(temps, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return temps
}

func TestDirLayout(t *testing.T) {
	d := newTestDir(t)
	mustPut(t, d, "state/op/1000/part-00003", []byte("p3"))
	got, err := os.ReadFile(filepath.Join(d.Path(), "state", "op", "1000", "part-00003"))
	if err != nil || string(got) != "p3" {
		t.Fatalf("the key's file holds %q, %v", got, err)
	}
	if s := d.String(); s != "dir "+d.Path() || !filepath.IsAbs(d.Path()) {
		t.Errorf("String() = %q, Path() = %q", s, d.Path())
	}
}

func TestNewDirErrors(t *testing.T) {
	if _, err := NewDir(""); err == nil {
		t.Error("NewDir(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("NewDir(a file) = %v; want an error naming it", err)
	}
}

// TestDirTornWrite checks that what a killed writer leaves is never seen,
// and that Clean (and Open) remove it once it is old.
func TestDirTornWrite(t *testing.T) {
	ctx := testContext(t)
	d := newTestDir(t)
	if err := d.tornPut("a/b", []byte("half of this is written")); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, d, "a/b")
	mustList(t, d, "", nil)
	mustPut(t, d, "a/c", []byte("c"))
	mustList(t, d, "a/", []string{"a/c"})
	if n, err := d.Clean(ctx, time.Hour); n != 0 || err != nil {
		t.Fatalf("Clean(1h) = %d, %v; want a young temporary file kept", n, err)
	}
	temps := tempFiles(t, d.Path())
	if len(temps) != 1 {
		t.Fatalf("temporary files %q; want one", temps)
	}
	old := time.Now().Add(-StaleTempAge - time.Minute)
	if err := os.Chtimes(temps[0], old, old); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, d.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if temps := tempFiles(t, d.Path()); len(temps) != 0 {
		t.Fatalf("Open left stale temporary files %q", temps)
	}
	if err := d.tornPut("a/b", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Clean(ctx, 0); n != 1 || err != nil {
		t.Fatalf("Clean(0) = %d, %v; want 1", n, err)
	}
	mustList(t, s, "", []string{"a/c"})
}

// TestDirForeignFiles checks that List skips what is not a key: another
// program's files, lost+found, links.
func TestDirForeignFiles(t *testing.T) {
	d := newTestDir(t)
	mustPut(t, d, "state/k", []byte("k"))
	for _, name := range []string{"lost+found/x", "backup~", "state/k#draft", "state/with space", "state/.#lock"} {
		p := filepath.Join(d.Path(), filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("k", filepath.Join(d.Path(), "state", "link")); err != nil {
		t.Fatal(err)
	}
	mustList(t, d, "", []string{"state/k"})
	// Clean removes temporary files only.
	if n, err := d.Clean(testContext(t), 0); n != 0 || err != nil {
		t.Fatalf("Clean = %d, %v", n, err)
	}
}

// TestDirDeletePrunes checks that Delete removes the directories it
// empties, and no others.
func TestDirDeletePrunes(t *testing.T) {
	ctx := testContext(t)
	d := newTestDir(t)
	mustPut(t, d, "x/y/z", nil)
	mustPut(t, d, "x/w", nil)
	if err := d.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), "x", "y")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("x/y after its last key went: %v", err)
	}
	if err := d.Delete(ctx, "x/w"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(d.Path())
	if err != nil || len(entries) != 0 {
		t.Fatalf("root holds %v, %v; want nothing", entries, err)
	}
}

// TestDirPutDeleteRace has writers put and delete keys in one directory,
// so that a Delete removes the directory a Put is about to write in.
func TestDirPutDeleteRace(t *testing.T) {
	d := newTestDir(t)
	ctx := testContext(t)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := range cap(errs) {
		wg.Go(func() {
			key := fmt.Sprintf("s/op/100/part-%d", w)
			for range 100 {
				if err := d.Put(ctx, key, []byte(key)); err != nil {
					errs <- err
					return
				}
				if err := d.Delete(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustList(t, d, "", nil)
}

// countdownCtx is a context whose Err turns to Canceled after n calls: it
// cancels a Put in the middle, deterministically.
type countdownCtx struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *countdownCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestDirCanceledMidway(t *testing.T) {
	d := newTestDir(t)
	mustPut(t, d, "k", []byte("old"))
	big := make([]byte, 3*writeChunk)
	ctx := &countdownCtx{Context: context.Background(), n: 2} // Put's own check, the first chunk's
	if err := d.Put(ctx, "k", big); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v; want Canceled", err)
	}
	mustGet(t, d, "k", []byte("old"))
	if temps := tempFiles(t, d.Path()); len(temps) != 0 {
		t.Fatalf("a canceled Put left %q", temps)
	}
	mustPut(t, d, "k", big)
	ctx = &countdownCtx{Context: context.Background(), n: 2}
	if _, err := d.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v; want Canceled", err)
	}
}

// TestDirProcesses has writer processes replace one key at once, and
// checks that one whole object is left.
func TestDirProcesses(t *testing.T) {
	const procs, puts, size = 4, 10, 256 << 10
	d := newTestDir(t)
	var cmds []*cmdResult
	for p := range procs {
		c := helperCmd(t, d.Path(), 2*p, puts, size)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, &cmdResult{c.Wait})
	}
	for _, c := range cmds {
		if err := c.wait(); err != nil {
			t.Fatalf("a writer failed: %v", err)
		}
	}
	got, err := d.Get(testContext(t), "hot/key")
	if err != nil {
		t.Fatal(err)
	}
	checkHelperObject(t, got, size)
	mustList(t, d, "", []string{"hot/key"})
	if temps := tempFiles(t, d.Path()); len(temps) != 0 {
		t.Fatalf("temporary files left: %q", temps)
	}
}

type cmdResult struct{ wait func() error }

// TestDirKilledWriter kills a writer process at a random moment of a
// stream of large Puts, and checks that the key holds a whole object and
// that what the writer left is invisible and cleaned.
func TestDirKilledWriter(t *testing.T) {
	const size = 8 << 20
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	d := newTestDir(t)
	for round := range rounds {
		c := helperCmd(t, d.Path(), round, 1000, size)
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			c.Process.Kill()
			c.Wait()
			t.Fatalf("writer said %q, %v", line, err)
		}
		time.Sleep(time.Duration(r.IntN(30_000)) * time.Microsecond)
		c.Process.Kill()
		c.Wait() // killed: an error
		got, err := d.Get(testContext(t), "hot/key")
		if err != nil {
			t.Fatal(err)
		}
		checkHelperObject(t, got, size)
		mustList(t, d, "", []string{"hot/key"})
	}
	torn := len(tempFiles(t, d.Path()))
	n, err := d.Clean(testContext(t), 0)
	if err != nil || n != torn {
		t.Fatalf("Clean = %d, %v; want %d", n, err, torn)
	}
	t.Logf("%d of %d kills left a torn write", torn, rounds)
	if temps := tempFiles(t, d.Path()); len(temps) != 0 {
		t.Fatalf("temporary files left after Clean: %q", temps)
	}
}
