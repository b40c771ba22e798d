package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// Output operations.

func printHeader(ms int) string {
	return fmt.Sprintf("-------------------------------------------\nTime: %d ms\n-------------------------------------------\n", ms)
}

func TestPrint(t *testing.T) {
	var buf bytes.Buffer // written by the batch goroutine, read after Run
	h := sluicetest.New(t, time.Second, sluice.Output(&buf))
	in := sluicetest.Input(h, 2, []int{1, 2, 3}, nil, []int{4}, []int{5, 6})
	sluice.Print(in, 2)
	sluice.Print(sluice.Window(in, 2*sec, 2*sec), 10)
	h.Run(4)
	want := printHeader(1000) + "1\n2\n...\n\n" +
		printHeader(2000) + "\n" +
		printHeader(2000) + "1\n2\n3\n\n" +
		printHeader(3000) + "4\n\n" +
		printHeader(4000) + "5\n6\n\n" +
		printHeader(4000) + "4\n5\n6\n\n"
	if got := buf.String(); got != want {
		t.Fatalf("Print wrote\n%s\nwant\n%s", got, want)
	}
}

func TestForeachBatch(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []int{1, 2, 3}, nil, []int{4})
	var mu sync.Mutex
	var calls []string
	record := func(name string) func(context.Context, sluice.Dataset[int], time.Time) error {
		return func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
			n, err := d.Count(ctx)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("%s@%d:%d", name, t.Unix(), n))
			return nil
		}
	}
	sluice.ForeachBatch(in, record("batch"))
	sluice.ForeachBatch(sluice.Window(in, 2*sec, 2*sec), record("window"))
	h.Run(4)
	mu.Lock()
	defer mu.Unlock()
	// Output operations run in the order they were declared, every batch
	// (empty ones included), and windowed ones every slide.
	want := []string{"batch@1:3", "batch@2:0", "window@2:3", "batch@3:1", "batch@4:0", "window@4:1"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
}

func TestForeachBatchErrorFailsJob(t *testing.T) {
	j := newManualJob(t, time.Second)
	in := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{1}, []int{2}), 1)
	errSink := errors.New("sink unavailable")
	sluice.ForeachBatch(in, func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
		if t.Unix() == 2 {
			return errSink
		}
		return nil
	})
	if err := j.ctx.Start(); err != nil {
		t.Fatal(err)
	}
	if info := j.step(); info.Err != nil {
		t.Fatalf("batch 1: %v", info.Err)
	}
	info := j.step()
	if !errors.Is(info.Err, errSink) {
		t.Fatalf("batch 2 error %v, want the sink's", info.Err)
	}
	assertMentions(t, info.Err, "ForeachBatch")
	if err := j.ctx.AwaitTermination(context.Background()); !errors.Is(err, errSink) {
		t.Fatalf("AwaitTermination = %v, want the sink's error", err)
	}
	if err := j.ctx.Stop(); !errors.Is(err, errSink) {
		t.Fatalf("Stop = %v, want the sink's error", err)
	}
}

func TestForeachPartition(t *testing.T) {
	skipOnCluster(t, "its function records calls in the test process")
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []int{1, 2, 3, 4, 5}, nil)
	var mu sync.Mutex
	var calls []string
	sluice.ForeachPartition(in, func(_ context.Context, t time.Time, part int, recs []int) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%d/%d:%v", t.Unix(), part, recs))
		return nil
	})
	h.Run(2)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(calls)
	// Every partition, empty ones included, with the batch time.
	want := []string{"1/0:[1]", "1/1:[2 3]", "1/2:[4 5]", "2/0:[]", "2/1:[]", "2/2:[]"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
}

func TestForeachPartitionErrorFailsJob(t *testing.T) {
	j := newManualJob(t, time.Second)
	in := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{1, 2}), 2)
	errWrite := errors.New("write refused")
	sluice.ForeachPartition(in, func(_ context.Context, _ time.Time, part int, _ []int) error {
		if part == 1 {
			return errWrite
		}
		return nil
	})
	if err := j.ctx.Start(); err != nil {
		t.Fatal(err)
	}
	if info := j.step(); info.Err == nil || !strings.Contains(info.Err.Error(), "write refused") {
		t.Fatalf("batch 1 error %v, want the partition's", info.Err)
	}
}

// readDir returns the names in dir and the content of each file.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestSaveAsTextFiles(t *testing.T) {
	skipOnCluster(t, "workers write under their own t.TempDir()")
	dir := t.TempDir()
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a", "b", "c"}, nil, []string{"d"}, []string{"e"})
	sluice.SaveAsTextFiles(in, filepath.Join(dir, "out"), "txt")
	sluice.SaveAsTextFiles(sluice.CountByWindow(in, 2*sec, 2*sec), filepath.Join(dir, "counts"), "")
	h.Run(4)

	names, _ := os.ReadDir(dir)
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	want := []string{"counts-2000", "counts-4000", "out-1000.txt", "out-2000.txt", "out-3000.txt", "out-4000.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("directories %v, want %v", got, want)
	}
	// One file per partition, a record per line, _SUCCESS, and no
	// temporary file left.
	files := map[string]map[string]string{
		"out-1000.txt": {"part-00000": "a\n", "part-00001": "b\nc\n", "_SUCCESS": ""},
		"out-2000.txt": {"part-00000": "", "part-00001": "", "_SUCCESS": ""},
		"out-3000.txt": {"part-00000": "", "part-00001": "d\n", "_SUCCESS": ""},
		"out-4000.txt": {"part-00000": "", "part-00001": "e\n", "_SUCCESS": ""},
		"counts-2000":  {"part-00000": "3\n", "_SUCCESS": ""},
		"counts-4000":  {"part-00000": "2\n", "_SUCCESS": ""},
	}
	for d, wantFiles := range files {
		if got := readDir(t, filepath.Join(dir, d)); fmt.Sprint(got) != fmt.Sprint(wantFiles) {
			t.Errorf("%s holds %q, want %q", d, got, wantFiles)
		}
	}
}

// Sources.

func TestQueueStream(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	q := sluice.NewQueue([]int{1, 2}, nil)
	s := sluice.QueueStream(h.Context, q, 3)
	out := sluicetest.Collect(s)
	sizes := sluicetest.Collect(partitionSizes(s))
	infos := h.Run(1)
	if q.Len() != 1 {
		t.Fatalf("Len after one batch = %d, want 1", q.Len())
	}
	q.Push(3, 4)
	q.Push()
	infos = append(infos, h.Run(4)...)
	if q.Len() != 0 {
		t.Fatalf("Len after the batches = %d, want 0", q.Len())
	}
	// The queue's batches in order, then empty batches.
	assertBatches(t, out.Batches(), batches([]int{1, 2}, nil, []int{3, 4}, nil, nil))
	assertBatches(t, sizes.Batches(), batches([]int{0, 1, 1}, []int{0, 0, 0}, []int{0, 1, 1}, []int{0, 0, 0}, []int{0, 0, 0}))
	var records []int64
	for _, i := range infos {
		records = append(records, i.Records)
	}
	if !slices.Equal(records, []int64{2, 0, 2, 0, 0}) {
		t.Fatalf("BatchInfo.Records %v, want [2 0 2 0 0]", records)
	}
}

func TestGenerate(t *testing.T) {
	// Batch k of 500ms at 6 records/s holds records [3k, 3k+3), with
	// event times over the batch's interval: on local[2], partition 0
	// gets record 3k and the first third of the interval, partition 1 the
	// other two records and the rest.
	h := sluicetest.New(t, 500*time.Millisecond)
	g := sluice.GeneratorFunc[string](func(from, to int64, start, end time.Time) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("%d@%d-%d", i, start.UnixMilli(), end.UnixMilli()))
		}
		return out
	})
	out := sluicetest.Collect(sluice.Generate(h.Context, g, 6))
	infos := h.Run(3)
	assertBatches(t, out.Batches(), batches(
		[]string{"0@0-166", "1@166-500", "2@166-500"},
		[]string{"3@500-666", "4@666-1000", "5@666-1000"},
		[]string{"6@1000-1166", "7@1166-1500", "8@1166-1500"}))
	for _, i := range infos {
		if i.Records != 3 {
			t.Fatalf("batch %v: %d records, want 3", i.Time, i.Records)
		}
	}
}

// generated runs TextGenerator(seed) at rate records/s for n batches of
// 100ms and returns the batches.
func generated(t *testing.T, seed uint64, rate, n int, opts ...sluice.Option) [][]string {
	h := sluicetest.New(t, 100*time.Millisecond, opts...)
	out := sluicetest.Collect(sluice.Generate(h.Context, sluice.TextGenerator(seed), rate))
	h.Run(n)
	return out.Batches()
}

func TestGenerateTextIsReplayable(t *testing.T) {
	a := generated(t, 7, 1000, 3)
	for i, b := range a {
		if len(b) != 100 { // rate × interval
			t.Fatalf("batch %d: %d records, want 100", i+1, len(b))
		}
		for _, r := range b {
			if len(r) != 100 {
				t.Fatalf("record %q is %d bytes, want 100", r, len(r))
			}
		}
	}
	if slices.Equal(a[0], a[1]) {
		t.Fatal("two batches hold the same records")
	}
	// Same seed, other workers and partitions: the same records, in order.
	assertBatches(t, generated(t, 7, 1000, 3, sluice.Master("local[1]"), sluice.Parallelism(5)), a)
	assertBatches(t, generated(t, 7, 1000, 3, sluice.Master("local[3]")), a)
	if b := generated(t, 8, 1000, 3); slices.Equal(a[0], b[0]) {
		t.Fatal("seeds 7 and 8 generated the same records")
	}
	// A record is a function of its index alone: at half the rate, six
	// batches hold the records of three at the full rate.
	half := generated(t, 7, 500, 6)
	flat := slices.Concat(a...)
	if got := slices.Concat(half...); !slices.Equal(got, flat) {
		t.Fatal("at half the rate, six batches do not hold the records of three at full rate")
	}
}

// reports collects the errors a context reports through OnError.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *reports) list() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineServer is a TCP server that hands each accepted connection to the
// test.
type lineServer struct {
	ln    net.Listener
	conns chan net.Conn
	wg    sync.WaitGroup
}

// sameAddr gives the worker processes of SLUICE_TEST_MASTER=local-cluster[N]
// (which run the test again to build its graph) the address the driver's
// process picked: push receivers run on workers.
func sameAddr(t *testing.T, addr string) string {
	key := "SLUICE_TEST_ADDR_" + strings.NewReplacer("/", "_", "#", "_").Replace(t.Name())
	if a := os.Getenv(key); a != "" && sluice.IsWorker() {
		return a
	}
	t.Setenv(key, addr)
	return addr
}

func newLineServer(t *testing.T) *lineServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{ln: ln, conns: make(chan net.Conn, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
		}
	}()
	return s
}

func (s *lineServer) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("the receiver did not connect")
		return nil
	}
}

func (s *lineServer) close() {
	s.ln.Close()
	s.wg.Wait()
	for c := range s.conns {
		c.Close()
	}
}

func TestSocketText(t *testing.T) {
	srv := newLineServer(t)
	defer srv.close()
	var errs reports
	h := sluicetest.New(t, time.Second, sluice.OnError(errs.add))
	addr := sameAddr(t, srv.ln.Addr().String())
	lines := sluice.SocketText(h.Context, addr)
	out := sluicetest.Collect(lines)
	h.Run(1) // starts the receiver; nothing was sent yet
	conn := srv.accept(t)

	long := strings.Repeat("x", sluice.MaxLineBytes+10)
	payload := "hello world\nsecond\r\n\xff\xfe\n" + long + "\nafter\n\xc3\x28\n"
	if _, err := conn.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	// The receiver reads in order: once the last (invalid) line is
	// reported, every line before it was received. Then cut the batch.
	waitFor(t, "3 reports", func() bool { return len(errs.list()) == 3 })
	waitFor(t, "3 lines stored", func() bool { return h.Context.ReceivedRecords() == 3 })
	h.Run(1)

	// A closed connection is reopened.
	conn.Close()
	conn = srv.accept(t)
	if _, err := conn.Write([]byte("again\n\xff\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report after reconnecting", func() bool { return len(errs.list()) == 4 })
	waitFor(t, "4 lines stored", func() bool { return h.Context.ReceivedRecords() == 4 })
	h.Run(1)
	if err := h.Context.Stop(); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	assertBatches(t, out.Batches(), batches(nil, []string{"hello world", "second", "after"}, []string{"again"}))
	got := errs.list()
	for i, want := range [][]string{
		{"SocketText(" + addr + ")", "line 3", "not valid UTF-8"},
		{"SocketText", "line 4", "longer than"},
		{"SocketText", "line 6", "not valid UTF-8"},
		{"SocketText", "line 2", "not valid UTF-8"},
	} {
		assertMentions(t, got[i], want...)
	}
}

func TestSocketTextWallClock(t *testing.T) {
	// On the real clock, with small batches: every line sent arrives in
	// exactly one batch.
	srv := newLineServer(t)
	defer srv.close()
	c, err := sluice.NewContext(sluice.Master("local[2]"), sluice.Batch(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	sluice.ForeachBatch(sluice.SocketText(c, srv.ln.Addr().String()), func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
		recs, err := d.Collect(ctx)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, recs...)
		return err
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn := srv.accept(t)
	var want []string
	for i := range 200 {
		want = append(want, fmt.Sprint("line ", i))
		if _, err := fmt.Fprintf(conn, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "200 lines", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines %v…, want %d", len(got), got[:min(5, len(got))], len(want))
	}
}

// moveIn writes a file outside dir and renames it into dir, as a
// producer of TextFiles input must.
func moveIn(t *testing.T, staging, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(staging, name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestTextFiles(t *testing.T) {
	skipOnCluster(t, "OnError is called in the worker that met the error")
	dir, staging := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old.txt"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var errs reports
	h := sluicetest.New(t, time.Second, sluice.OnError(errs.add))
	out := sluicetest.Collect(sluice.TextFiles(h.Context, dir))
	h.Run(1) // files there before Start are ignored

	moveIn(t, staging, dir, "f1.txt", "a\nb\n")
	moveIn(t, staging, dir, "f2.txt", "c\r\nno newline")
	moveIn(t, staging, dir, ".hidden", "hidden\n")
	moveIn(t, staging, dir, "_COPYING_", "copying\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.Run(2) // each file in exactly one batch

	// Unreadable entries are reported and skipped; the job goes on. A
	// dangling symbolic link cannot be opened, even by root.
	if err := os.Symlink(filepath.Join(staging, "gone"), filepath.Join(dir, "dangling.txt")); err != nil {
		t.Fatal(err)
	}
	locked := os.Geteuid() != 0 // root reads a file with mode 000
	if locked {
		moveIn(t, staging, dir, "locked.txt", "secret\n")
		if err := os.Chmod(filepath.Join(dir, "locked.txt"), 0); err != nil {
			t.Fatal(err)
		}
	}
	moveIn(t, staging, dir, "bad.txt", "ok\n\xff\xfe\n")
	h.Run(1)
	moveIn(t, staging, dir, "f3.txt", "d\n")
	h.Run(1)

	assertBatches(t, out.Batches(), batches(nil, []string{"a", "b", "c", "no newline"}, nil, []string{"ok"}, []string{"d"}))
	got := errs.list()
	wantReports := [][]string{{"TextFiles(" + dir + ")", "bad.txt", "line 2", "not valid UTF-8"}, {"TextFiles", "dangling.txt"}}
	if locked {
		wantReports = append(wantReports, []string{"TextFiles", "locked.txt", "permission denied"})
	}
	if len(got) != len(wantReports) {
		t.Fatalf("reports %v, want %d", got, len(wantReports))
	}
	slices.SortFunc(got, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	for i, w := range wantReports {
		assertMentions(t, got[i], w...)
	}
}

func TestTextFilesVanishedFile(t *testing.T) {
	skipOnCluster(t, "OnError is called in the worker that met the error")
	// A file listed for a batch and removed before the batch reads it is
	// reported, and the job goes on. The read happens in a task: block
	// the batch's job on a ForeachBatch of another stream that runs first.
	dir, staging := t.TempDir(), t.TempDir()
	var errs reports
	h := sluicetest.New(t, time.Second, sluice.OnError(errs.add))
	ticks := sluicetest.Input(h, 1, []int{1}, []int{2}, []int{3})
	files := sluice.TextFiles(h.Context, dir)
	remove := make(chan string, 1)
	sluice.ForeachBatch(ticks, func(context.Context, sluice.Dataset[int], time.Time) error {
		select {
		case name := <-remove: // the files are listed: remove one
			return os.Remove(name)
		default:
			return nil
		}
	})
	out := sluicetest.Collect(files)
	h.Run(1)
	moveIn(t, staging, dir, "vanishing.txt", "never read\n")
	moveIn(t, staging, dir, "kept.txt", "kept\n")
	remove <- filepath.Join(dir, "vanishing.txt")
	h.Run(1)
	moveIn(t, staging, dir, "later.txt", "later\n")
	h.Run(1)
	assertBatches(t, out.Batches(), batches(nil, []string{"kept"}, []string{"later"}))
	got := errs.list()
	if len(got) != 1 {
		t.Fatalf("reports %v, want one", got)
	}
	assertMentions(t, got[0], "TextFiles", "vanishing.txt", "no such file")
}

func TestTextFilesMissingDirectory(t *testing.T) {
	skipOnCluster(t, "OnError is called in the worker that met the error")
	// A directory that does not exist yet is reported at every batch; its
	// files are read once it exists.
	dir := filepath.Join(t.TempDir(), "later")
	staging := t.TempDir()
	var errs reports
	h := sluicetest.New(t, time.Second, sluice.OnError(errs.add))
	out := sluicetest.Collect(sluice.TextFiles(h.Context, dir))
	h.Run(1)
	if len(errs.list()) == 0 {
		t.Fatal("a missing directory was not reported")
	}
	assertMentions(t, errs.list()[0], "TextFiles", "later")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	moveIn(t, staging, dir, "f.txt", "x\n")
	h.Run(2)
	assertBatches(t, out.Batches(), batches(nil, []string{"x"}, nil))
}

func TestGenerateFractionalRate(t *testing.T) {
	// When rate × interval is not whole, the fraction carries over: the
	// rate holds over time, and a low rate still produces records.
	h := sluicetest.New(t, 100*time.Millisecond)
	g := sluice.GeneratorFunc[int64](func(from, to int64, _, _ time.Time) []int64 {
		var out []int64
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	})
	three := sluicetest.Collect(sluice.Generate(h.Context, g, 15)) // 1.5 per batch
	slow := sluicetest.Collect(sluice.Generate(h.Context, g, 1))   // 0.1 per batch
	h.Run(20)
	var sizes []int
	for _, b := range three.Batches() {
		sizes = append(sizes, len(b))
	}
	if want := []int{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}; !slices.Equal(sizes, want) {
		t.Fatalf("records per batch at 15/s in 100ms batches: %v, want %v", sizes, want)
	}
	if got := slices.Concat(three.Batches()...); len(got) != 30 || got[29] != 29 {
		t.Fatalf("records %v, want 0..29", got)
	}
	want := make([][]int64, 20)
	want[9], want[19] = []int64{0}, []int64{1}
	assertBatches(t, slow.Batches(), want)
}

func TestGenerateEventTimesDoNotDependOnPartitioning(t *testing.T) {
	times := func(parallelism int) []int64 {
		h := sluicetest.New(t, time.Second, sluice.Master("local[2]"), sluice.Parallelism(parallelism))
		g := sluice.GeneratorFunc[int64](func(from, to int64, start, end time.Time) []int64 {
			var out []int64
			for i := from; i < to; i++ {
				out = append(out, start.UnixNano()+(i-from)*int64(end.Sub(start))/(to-from))
			}
			return out
		})
		out := sluicetest.Collect(sluice.Generate(h.Context, g, 7))
		h.Run(2)
		var all []int64
		for _, b := range out.Batches() {
			all = append(all, b...)
		}
		return all
	}
	one, three := times(1), times(3)
	if len(one) != 14 || len(three) != 14 {
		t.Fatalf("got %d and %d records, want 14", len(one), len(three))
	}
	for i := range one {
		if d := one[i] - three[i]; d < -1 || d > 1 {
			t.Fatalf("record %d: time %d with 1 partition, %d with 3", i, one[i], three[i])
		}
	}
}

// skipOnCluster skips a test whose checks run in the test process while
// the code they check runs on a cluster's worker processes (side effects
// of user functions, OnError reports, each process's own t.TempDir, or
// rapid's draws, which differ between processes).
func skipOnCluster(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(sluicetest.MasterEnv) != "" {
		t.Skipf("on %s: %s", os.Getenv(sluicetest.MasterEnv), why)
	}
}
