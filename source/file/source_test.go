package file_test

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

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	sinkfile "github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/source/file"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

// sharedDir returns a directory that the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N] (which run the same test, and
// inherit the environment) find too.
func sharedDir(t *testing.T) string {
	const env = "SLUICE_FILE_SOURCE_TEST_DIR"
	if d := os.Getenv(env); d != "" {
		return d
	}
	d := t.TempDir()
	t.Setenv(env, d)
	return d
}

// put makes a file appear atomically, as writers must: written under a
// hidden name, then renamed in. Only the driver (the test's own process)
// writes: a worker process runs the test too.
func put(t *testing.T, dir, name, content string) {
	t.Helper()
	if sluice.IsWorker() {
		return
	}
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// numbered returns lines "<prefix>-<i>" for i in [from, to).
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%d\n", prefix, i)
	}
	return b.String()
}

// Files added between batches are read in the next batch, each line once;
// hidden ('.') and marker ('_') files and subdirectories are not read;
// MaxFilesPerBatch spreads a backlog over batches.
func TestTextEveryLineOnce(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "in")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "a.txt", numbered("a", 0, 5))
	put(t, dir, "b.txt", numbered("b", 0, 3))
	put(t, dir, "_SUCCESS", "marker\n")
	put(t, dir, ".hidden", "hidden\n")
	put(t, filepath.Join(dir, "sub"), "c.txt", "in a subdirectory\n")
	h := sluicetest.New(t, time.Second)
	src := file.Text(file.Dir(dir), file.MaxFilesPerBatch(2), file.SplitSize(7))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("text")))
	h.Run(1)
	for i := range 3 {
		put(t, dir, fmt.Sprintf("c%d.txt", i), numbered(fmt.Sprint("c", i), 0, 4))
	}
	h.Run(1)
	put(t, dir, "d.txt", numbered("d", 0, 2000))
	h.Run(3)
	var got []string
	sizes := []int{}
	for _, b := range out.Batches() {
		got = append(got, b...)
		sizes = append(sizes, len(b))
	}
	want := strings.Fields(numbered("a", 0, 5) + numbered("b", 0, 3) + numbered("c0", 0, 4) + numbered("c1", 0, 4) + numbered("c2", 0, 4) + numbered("d", 0, 2000))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %d lines, want %d once each: %q", len(got), len(want), got[:min(len(got), 30)])
	}
	// Two files a batch: a and b, then two of the c files, then the
	// third with d, then nothing.
	if !slices.Equal(sizes, []int{8, 8, 2004, 0, 0}) {
		t.Errorf("batch sizes %v", sizes)
	}
}

type event struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
}

// Bad lines go to the dead-letter sink with their path and line; the
// others are read.
func TestJSONLinesDeadLetter(t *testing.T) {
	base := sharedDir(t)
	dir := filepath.Join(base, "in")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	long := `{"id":9,"kind":"` + strings.Repeat("x", 200) + `"}`
	put(t, dir, "e1.jsonl", "{\"id\":1,\"kind\":\"a\"}\nnot json\n{\"id\":2,\"kind\":\"b\"}\n\xff\xfe\n"+long+"\n{\"id\":3}\n")
	put(t, dir, "e2.jsonl", "{\"id\":4,\"kind\":\"c\"} {\"id\":5}\n\n{\"id\":6,\"kind\":\"d\"}")
	h := sluicetest.New(t, time.Second)
	dl := sinkfile.New[sluice.BadRecord](filepath.Join(base, "dead"))
	src := file.JSONLines[event](file.Dir(dir), file.MaxLineLength(100), file.SplitSize(30))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events"), sluice.DeadLetter(dl)))
	h.Run(2)
	var ids []int
	for _, b := range out.Batches() {
		for _, e := range b {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int{1, 2, 3, 6}) {
		t.Fatalf("read ids %v, want 1, 2, 3, 6", ids)
	}
	if sluice.IsWorker() {
		return
	}
	bs, err := sinkfile.ReadBatches(filepath.Join(base, "dead"), "events.dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, b := range bs {
		recs, err := sinkfile.Decode[sluice.BadRecord](b.Lines())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Input != "events" || r.Batch.IsZero() || r.Error == "" {
				t.Errorf("bad record %+v", r)
			}
			bad = append(bad, fmt.Sprintf("%s %q", strings.TrimPrefix(r.Position, dir+"/"), r.Value[:min(len(r.Value), 10)]))
		}
	}
	slices.Sort(bad)
	want := []string{`e1.jsonl:2 "not json"`, `e1.jsonl:4 "\xff\xfe"`, `e1.jsonl:5 "{\"id\":9,\"k"`, `e2.jsonl:1 "{\"id\":4,\"k"`, `e2.jsonl:2 ""`}
	if !slices.Equal(bad, want) {
		t.Fatalf("dead letters:\n%s\nwant\n%s", strings.Join(bad, "\n"), strings.Join(want, "\n"))
	}
}

// Without a dead-letter sink a bad line fails the batch, naming it.
func TestBadLineFailsBatch(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "in")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "x.jsonl", "{\"id\":1}\n{\"id\":\n")
	h := sluicetest.New(t, time.Second)
	sluicetest.Collect(sluice.FromSource(h.Context, file.JSONLines[event](file.Dir(dir)), sluice.Named("events")))
	_, err := h.TryRun(1)
	if err == nil || !strings.Contains(err.Error(), "x.jsonl:2") || !strings.Contains(err.Error(), "input events") {
		t.Fatalf("TryRun = %v, want the bad line's position", err)
	}
}

// A file that vanished or changed between the plan and the read fails
// the read with ErrVanished.
func TestVanishedFile(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "a.txt", "1\n2\n")
	put(t, dir, "b.txt", "3\n")
	src := file.Text(file.Dir(dir))
	p, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Batch: time.Unix(1, 0), Limit: -1})
	if err != nil || src.Parts(p) != 2 {
		t.Fatalf("Plan = %+v, %v", p, err)
	}
	if err := os.Remove(filepath.Join(dir, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for part, what := range []string{"gone", "changed"} {
		_, _, err := src.Read(ctx, p, part)
		if !errors.Is(err, file.ErrVanished) || !strings.Contains(err.Error(), what) {
			t.Errorf("Read of part %d = %v, want ErrVanished, %s", part, err, what)
		}
	}
}

func TestCSV(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "p.csv", "name,qty\nbolt,3\n\"nut, small\",10\nwasher\n\"multi\nline\",2\nscrew,x\n\"open,1\n")
	type item struct {
		Name string
		Qty  int
	}
	src := file.CSVFunc(file.Dir(dir), func(h, r []string) (item, error) {
		if !slices.Equal(h, []string{"name", "qty"}) {
			return item{}, fmt.Errorf("header %q", h)
		}
		var it item
		it.Name = r[0]
		_, err := fmt.Sscan(r[1], &it.Qty)
		return it, err
	}, file.Header(), file.SplitSize(5))
	p, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Limit: -1})
	if err != nil || src.Parts(p) != 1 {
		t.Fatalf("Plan = %+v, %v (CSV files are not split)", p, err)
	}
	recs, bad, err := src.Read(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(recs) != "[{bolt 3} {nut, small 10} {multi\nline 2}]" {
		t.Errorf("records %v", recs)
	}
	var got []string
	for _, b := range bad {
		got = append(got, fmt.Sprintf("%s %q", filepath.Base(b.Position), b.Value))
	}
	want := []string{`p.csv:4 "washer"`, `p.csv:7 "screw,x"`, `p.csv:8 "\"open,1"`}
	if !slices.Equal(got, want) {
		t.Errorf("bad records %q, want %q", got, want)
	}
	plain := file.CSV(file.Dir(dir), file.FieldsPerRecord(-1))
	recs2, bad2, err := plain.Read(ctx, p, 0)
	if err != nil || len(recs2) != 6 || len(bad2) != 1 || recs2[0][0] != "name" {
		t.Errorf("CSV without a header: %q, %v, %v", recs2, bad2, err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []file.Option{file.MaxFilesPerBatch(0), file.MaxLineLength(-1), file.Lookback(-time.Second), file.SplitSize(-1)} {
		src := file.Text(file.Dir(t.TempDir()), o)
		if _, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Limit: -1}); err == nil || !strings.HasPrefix(err.Error(), "file: ") {
			t.Errorf("Plan with a bad option = %v", err)
		}
	}
	if _, err := file.Text(file.Dir("")).Plan(ctx, sluice.PlanRequest[file.Plan]{}); err == nil {
		t.Error("Plan without a directory succeeded")
	}
}
