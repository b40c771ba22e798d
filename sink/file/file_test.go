package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func key(output string, ms int64, part, parts int) sluice.OutputKey {
	return sluice.OutputKey{Output: output, Batch: time.UnixMilli(ms), Partition: part, Partitions: parts}
}

// ls returns the names in a directory, sorted.
func ls(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lines returns a batch's lines as strings, partition by partition.
func lines(b file.Batch) [][]string {
	out := make([][]string, len(b.Parts))
	for p, ls := range b.Parts {
		out[p] = []string{}
		for _, l := range ls {
			out[p] = append(out[p], string(l))
		}
	}
	return out
}

func TestWriteTwiceWritesOnce(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	for range 2 {
		if err := s.Write(ctx, key("n", 1000, 0, 1), []int{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitBatch(ctx, "n", time.UnixMilli(1000), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, "n", time.UnixMilli(1000), 1); err != nil { // committed again: no change
		t.Fatal(err)
	}
	bdir := filepath.Join(dir, "n", "1000")
	if got, want := ls(t, bdir), []string{"_SUCCESS", "part-00000.jsonl"}; !slices.Equal(got, want) {
		t.Fatalf("batch directory holds %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(bdir, "part-00000.jsonl")); got != "1\n2\n3\n" {
		t.Fatalf("part holds %q", got)
	}
	if got := readFile(t, filepath.Join(bdir, "_SUCCESS")); got != "1\n" {
		t.Fatalf("_SUCCESS holds %q", got)
	}
	bs, err := file.ReadBatches(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || !bs[0].Time.Equal(time.UnixMilli(1000)) || fmt.Sprint(lines(bs[0])) != "[[1 2 3]]" {
		t.Fatalf("ReadBatches = %v", bs)
	}
}

// A rerun replaces the file whole, whatever was there (here a longer
// file, as if an earlier run had written more).
func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	s := file.New[string](dir)
	if err := s.Write(ctx, key("w", 1000, 0, 1), []string{"a", "b", "c", "d"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, key("w", 1000, 0, 1), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "w", "_pending", "1000", "part-00000.jsonl")); got != "\"x\"\n" {
		t.Fatalf("part holds %q after the rerun", got)
	}
}

// Concurrent attempts of one key (speculation) leave one whole file, and a
// reader never sees a partial one meanwhile.
func TestConcurrentAttempts(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	recs := make([]int, 20000)
	for i := range recs {
		recs[i] = i * 7919
	}
	var want bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&want, "%d\n", r)
	}
	k := key("c", 5000, 3, 4)
	part := filepath.Join(dir, "c", "_pending", "5000", "part-00003.jsonl")

	stop := make(chan struct{})
	var reads atomic.Int64
	var readerErr error
	var wgReader sync.WaitGroup
	wgReader.Add(1)
	go func() { // checks every version of the file it sees
		defer wgReader.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(part)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil || !bytes.Equal(b, want.Bytes()) {
				readerErr = fmt.Errorf("read %d bytes (err %v), want the %d of a whole file", len(b), err, want.Len())
				return
			}
			reads.Add(1)
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, k, recs)
		}()
	}
	wg.Wait()
	close(stop)
	wgReader.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if got := ls(t, filepath.Dir(part)); !slices.Equal(got, []string{"part-00003.jsonl"}) {
		t.Fatalf("batch directory holds %q, want the part alone", got)
	}
	if got := readFile(t, part); got != want.String() {
		t.Fatalf("part holds %d bytes, want %d", len(got), want.Len())
	}
	t.Logf("the reader saw the whole file %d times", reads.Load())
}

// A worker that dies while writing leaves only its temporary file, which
// readers do not see and the batch's commit removes.
func TestCrashMidWriteLeavesNoVisibleFile(t *testing.T) {
	dir := t.TempDir()
	s := file.New[string](dir)
	bdir := filepath.Join(dir, "logs", "2000")
	pdir := filepath.Join(dir, "logs", "_pending", "2000")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of a write leaves (the temporary file's
	// name is the one Write uses).
	tmp := filepath.Join(pdir, ".part-00000.jsonl.tmp-12345")
	if err := os.WriteFile(tmp, []byte("\"half\"\n\"a li"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, "logs", time.UnixMilli(2000), 1); err == nil ||
		!strings.Contains(err.Error(), "part-00000.jsonl is missing") {
		t.Fatalf("commit without the part = %v, want an error naming the missing part", err)
	}
	if bs, err := file.ReadBatches(dir, "logs"); err != nil || len(bs) != 0 {
		t.Fatalf("ReadBatches = %v, %v; want no batch", bs, err)
	}

	// The batch runs again.
	if err := s.Write(ctx, key("logs", 2000, 0, 1), []string{"whole", "line"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, "logs", time.UnixMilli(2000), 1); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, bdir); !slices.Equal(got, []string{"_SUCCESS", "part-00000.jsonl"}) {
		t.Fatalf("batch directory holds %q after the commit", got)
	}
	bs, err := file.ReadBatches(dir, "logs")
	if err != nil || len(bs) != 1 || fmt.Sprint(lines(bs[0])) != `[["whole" "line"]]` {
		t.Fatalf("ReadBatches = %v, %v", bs, err)
	}
}

// A write that fails half way (here the formatter) leaves nothing behind.
func TestFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	errBad := errors.New("unencodable")
	s := file.New(dir, file.Format(func(r int) ([]byte, error) {
		if r == 3 {
			return nil, errBad
		}
		return fmt.Appendf(nil, "%d", r), nil
	}))
	err := s.Write(ctx, key("f", 1000, 0, 1), []int{1, 2, 3, 4})
	if !errors.Is(err, errBad) || !strings.Contains(err.Error(), "f/1000/0") || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("Write = %v, want the formatter's error with the key and the record", err)
	}
	if got := ls(t, filepath.Join(dir, "f", "_pending", "1000")); len(got) != 0 {
		t.Fatalf("a failed write left %q", got)
	}
}

func TestCancelledWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(cctx, key("x", 1000, 0, 1), []int{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "1000", "part-00000.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a cancelled write left its part (stat: %v)", err)
	}
}

func TestUncommittedBatchIsNotRead(t *testing.T) {
	dir := t.TempDir()
	s := file.New[string](dir)
	for _, ms := range []int64{1000, 2000, 3000} {
		for p := range 2 {
			if err := s.Write(ctx, key("o", ms, p, 2), []string{fmt.Sprintf("%d-%d", ms, p)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ms := range []int64{3000, 1000} { // 2000 is not committed
		if err := s.CommitBatch(ctx, "o", time.UnixMilli(ms), 2); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := file.ReadBatches(dir, "o")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, fmt.Sprint(b.Time.UnixMilli(), lines(b)))
	}
	want := []string{`1000 [["1000-0"] ["1000-1"]]`, `3000 [["3000-0"] ["3000-1"]]`}
	if !slices.Equal(got, want) {
		t.Fatalf("ReadBatches = %q, want %q", got, want)
	}
}

// A batch run again with fewer partitions (a job restarted with another
// parallelism) must not keep the earlier run's extra parts.
func TestCommitDropsPartsBeyondCount(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	for p := range 4 {
		if err := s.Write(ctx, key("r", 1000, p, 4), []int{p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitBatch(ctx, "r", time.UnixMilli(1000), 2); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, filepath.Join(dir, "r", "1000")); !slices.Equal(got, []string{"_SUCCESS", "part-00000.jsonl", "part-00001.jsonl"}) {
		t.Fatalf("batch directory holds %q", got)
	}
	bs, err := file.ReadBatches(dir, "r")
	if err != nil || len(bs) != 1 || fmt.Sprint(lines(bs[0])) != "[[0] [1]]" {
		t.Fatalf("ReadBatches = %v, %v", bs, err)
	}
}

func TestEmptyBatch(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	if err := s.Write(ctx, key("e", 1000, 0, 1), nil); err != nil {
		t.Fatal(err)
	}
	for _, parts := range []int{1, 0} {
		ms := int64(1000 * (2 - parts)) // 1000 with one empty part, 2000 with no partition
		if err := s.CommitBatch(ctx, "e", time.UnixMilli(ms), parts); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := file.ReadBatches(dir, "e")
	if err != nil || len(bs) != 2 || len(bs[0].Parts) != 1 || len(bs[0].Lines()) != 0 || len(bs[1].Parts) != 0 {
		t.Fatalf("ReadBatches = %v, %v; want an empty part at 1000 and no part at 2000", bs, err)
	}
}

func TestCommittedBatchMissingPart(t *testing.T) {
	dir := t.TempDir()
	s := file.New[int](dir)
	if err := s.Write(ctx, key("m", 1000, 0, 1), []int{1}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, "m", time.UnixMilli(1000), 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "m", "1000", "part-00000.jsonl")); err != nil {
		t.Fatal(err)
	}
	if _, err := file.ReadBatches(dir, "m"); err == nil || !strings.Contains(err.Error(), "part-00000.jsonl") {
		t.Fatalf("ReadBatches = %v, want an error naming the missing part", err)
	}
}

func TestReadMissingOutput(t *testing.T) {
	if _, err := file.ReadBatches(t.TempDir(), "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadBatches = %v, want fs.ErrNotExist", err)
	}
}

func TestBadOutputName(t *testing.T) {
	s := file.New[int](t.TempDir())
	for _, name := range []string{"", ".", "..", "a/b", `a\b`} {
		if err := s.Write(ctx, key(name, 1000, 0, 1), []int{1}); err == nil || !strings.Contains(err.Error(), "cannot name a directory") {
			t.Errorf("Write to output %q = %v, want an error", name, err)
		}
		if err := s.CommitBatch(ctx, name, time.UnixMilli(1000), 1); err == nil {
			t.Errorf("CommitBatch of output %q succeeded", name)
		}
	}
}

func TestFormat(t *testing.T) {
	dir := t.TempDir()
	csv := file.New(dir, file.Format(func(kv sluice.KV[string, int]) ([]byte, error) {
		return fmt.Appendf(nil, "%s,%d", kv.Key, kv.Value), nil
	}))
	if err := csv.Write(ctx, key("csv", 1000, 0, 1), []sluice.KV[string, int]{{Key: "a", Value: 1}, {Key: "b", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "csv", "_pending", "1000", "part-00000.jsonl")); got != "a,1\nb,2\n" {
		t.Fatalf("part holds %q", got)
	}
	multi := file.New(dir, file.Format(func(s string) ([]byte, error) { return []byte(s), nil }))
	if err := multi.Write(ctx, key("nl", 1000, 0, 1), []string{"ok", "two\nlines"}); err == nil || !strings.Contains(err.Error(), "newline") {
		t.Fatalf("Write of a line with a newline = %v, want an error", err)
	}
}

func TestDecode(t *testing.T) {
	got, err := file.Decode[sluice.KV[string, int]]([][]byte{[]byte(`{"Key":"a","Value":1}`)})
	if err != nil || len(got) != 1 || got[0] != sluice.Pair("a", 1) {
		t.Fatalf("Decode = %v, %v", got, err)
	}
	if _, err := file.Decode[int]([][]byte{[]byte("1"), []byte("x")}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Decode of a bad line = %v, want an error naming line 2", err)
	}
}

// sale is the end-to-end test's record.
type sale struct {
	Shop  string `json:"shop"`
	Cents int    `json:"cents"`
}

// troubled wraps a sink as the engine's failures would: every partition's
// first write reaches the files and then fails (so the engine runs the
// task again), and every write runs twice at once (as a speculative copy
// would). It remembers the keys it failed by files in its own directory,
// which the worker processes of a cluster share.
type troubled[T any] struct {
	*file.Sink[T]
	tried string // a directory
}

func (s *troubled[T]) Write(ctx context.Context, k sluice.OutputKey, recs []T) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Sink.Write(ctx, k, recs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	mark := filepath.Join(s.tried, fmt.Sprintf("%s-%d-%d", k.Output, k.Batch.UnixMilli(), k.Partition))
	f, err := os.OpenFile(mark, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	f.Close()
	return fmt.Errorf("worker lost after writing %v", k)
}

// sharedDir returns a directory for a test's output that the worker
// processes of SLUICE_TEST_MASTER=local-cluster[N] (which run the same
// test, and inherit the environment) find too.
func sharedDir(t *testing.T) string {
	const env = "SLUICE_FILE_TEST_DIR"
	if d := os.Getenv(env); d != "" {
		return d
	}
	d := t.TempDir()
	t.Setenv(env, d)
	return d
}

// Through a real context: the files hold every record exactly once,
// batch by batch and partition by partition, although every write was
// repeated and run twice at once.
func TestWriteToEndToEnd(t *testing.T) {
	dir := sharedDir(t)
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3,
		[]sale{{"paris", 120}, {"oslo", 80}, {"rome", 45}, {"oslo", 300}},
		nil,
		[]sale{{"rome", 999}},
		[]sale{{"paris", 1}, {"paris", 2}, {"paris", 3}, {"oslo", 4}, {"rome", 5}, {"lima", 6}})
	doubled := sluice.Map(in, func(s sale) sale { s.Cents *= 2; return s })
	sink := &troubled[sale]{Sink: file.New[sale](filepath.Join(dir, "out")), tried: filepath.Join(dir, "tried")}
	if err := os.MkdirAll(sink.tried, 0o755); err != nil {
		t.Fatal(err)
	}
	sluice.WriteTo(doubled, sink, sluice.Named("sales"))
	want := sluicetest.Collect(doubled)
	h.Run(4)

	if n := len(ls(t, sink.tried)); n != 4*3 {
		t.Fatalf("%d partitions failed once, want all 12", n)
	}
	bs, err := file.ReadBatches(sink.Dir(), "sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 4 {
		t.Fatalf("%d committed batches, want 4", len(bs))
	}
	for i, b := range bs {
		if !b.Time.Equal(h.Time(i + 1)) {
			t.Fatalf("batch %d at %v, want %v", i+1, b.Time, h.Time(i+1))
		}
		if len(b.Parts) != 3 {
			t.Fatalf("batch %d has %d parts, want 3", i+1, len(b.Parts))
		}
		got, err := file.Decode[sale](b.Lines())
		if err != nil {
			t.Fatal(err)
		}
		if w := want.Batches()[i]; !slices.Equal(got, w) {
			t.Errorf("batch %d: files hold %v, want %v", i+1, got, w)
		}
	}
	if got := fmt.Sprint(lines(bs[0])); got != `[[{"shop":"paris","cents":240}] [{"shop":"oslo","cents":160}] [{"shop":"rome","cents":90} {"shop":"oslo","cents":600}]]` {
		t.Errorf("batch 1's parts: %s", got)
	}
	for i := range 4 {
		if got := ls(t, filepath.Join(sink.Dir(), "sales", fmt.Sprint(h.Time(i+1).UnixMilli()))); len(got) != 4 {
			t.Errorf("batch %d's directory holds %q, want 3 parts and _SUCCESS", i+1, got)
		}
	}
}
