package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	sinkfile "github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/source/file"
)

// restartJob reads the lines of dir and writes them to out.
type restartJob struct{ in, out string }

func (j restartJob) build(c *sluice.Context) {
	lines := sluice.FromSource(c, file.Text(file.Dir(j.in), file.MaxFilesPerBatch(3)), sluice.Named("lines"))
	sluice.WriteTo(lines, sinkfile.New[string](j.out), sluice.Named("copy"))
}

// driver is one incarnation of the job's driver.
type driver struct {
	c     *sluice.Context
	clock *sluicetest.ManualClock
	infos chan sluice.BatchInfo
}

func startDriver(t *testing.T, ckpt string, j restartJob, at time.Time) *driver {
	t.Helper()
	d := &driver{clock: sluicetest.NewManualClock(at), infos: make(chan sluice.BatchInfo, 64)}
	c, err := sluice.GetOrCreate(ckpt, j.build, sluice.Master("local[2]"), sluice.Batch(time.Second),
		sluice.WithClock(d.clock), sluice.OnBatch(func(b sluice.BatchInfo) { d.infos <- b }))
	if err != nil {
		t.Fatal(err)
	}
	d.c = c
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// next runs the next batch to completion.
func (d *driver) next(t *testing.T) time.Time {
	t.Helper()
	d.clock.Advance(time.Second)
	select {
	case b := <-d.infos:
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		return b.Time
	case <-time.After(30 * time.Second):
		t.Fatal("no batch for 30 s")
	}
	return time.Time{}
}

// waitMetadata waits until the metadata checkpoint after batch bt is
// written (after the batch's OnBatch).
func waitMetadata(t *testing.T, ckpt string, bt time.Time) {
	t.Helper()
	p := filepath.Join(ckpt, "metadata", fmt.Sprintf("%020d", bt.UnixNano()))
	for range 1000 {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no metadata checkpoint %s", p)
}

// A job stopped and started again, and one whose driver dies after a
// batch's output but before its metadata checkpoint (its checkpoint
// directory copied then), reads every file once: the plans in the
// checkpoint say which files were read.
func TestRestartReadsEveryFileOnce(t *testing.T) {
	if sluice.IsWorker() {
		t.Skip("runs its own drivers on local[2]")
	}
	base := t.TempDir()
	j := restartJob{in: filepath.Join(base, "in"), out: filepath.Join(base, "out")}
	ckpt := filepath.Join(base, "ckpt")
	if err := os.MkdirAll(j.in, 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	add := func(name string, n int) {
		put(t, j.in, name, numbered(name, 0, n))
		want = append(want, strings.Fields(numbered(name, 0, n))...)
	}
	add("f1", 3)
	add("f2", 2)
	add("f3", 4)
	add("f4", 1)
	d1 := startDriver(t, ckpt, j, sluicetest.Epoch)
	d1.next(t) // f1, f2, f3
	d1.next(t) // f4
	if err := d1.c.Stop(); err != nil {
		t.Fatal(err)
	}

	add("f5", 5) // while no job runs
	d2 := startDriver(t, ckpt, j, d1.clock.Now())
	if rep := d2.c.Resumed(); rep == nil || rep.Completed.UnixMilli() != 2000 {
		t.Fatalf("resumed %v, want after batch 2000", rep)
	}
	b3 := d2.next(t) // f5
	waitMetadata(t, ckpt, b3)
	snapshot := filepath.Join(base, "snapshot")
	if err := os.CopyFS(snapshot, os.DirFS(ckpt)); err != nil {
		t.Fatal(err)
	}
	add("f6", 2)
	add("f7", 2)
	d2.next(t) // f6, f7: its output is committed, then the driver "dies"
	if err := d2.c.Stop(); err != nil {
		t.Fatal(err)
	}
	add("f8", 3) // the rerun of batch 4 finds more files than the first run

	d3 := startDriver(t, snapshot, j, d2.clock.Now().Add(-time.Second))
	if rep := d3.c.Resumed(); rep == nil || rep.Completed.UnixMilli() != 3000 {
		t.Fatalf("resumed %v, want after batch 3000", rep)
	}
	for range 3 {
		d3.next(t)
	}
	if err := d3.c.Stop(); err != nil {
		t.Fatal(err)
	}
	bs, err := sinkfile.ReadBatches(j.out, "copy")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		recs, err := sinkfile.Decode[string](b.Lines())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("output holds %q\nwant once each %q", got, want)
	}
	t.Logf("%d batches, %d lines", len(bs), len(got))
	// Batch 4 was committed twice, the second time with f8 too.
	if _, err := os.Stat(filepath.Join(j.out, "copy", "4000.1")); err != nil {
		t.Errorf("batch 4 was not committed again: %v", err)
	}
	if n := len(bs[3].Lines()); n != 7 {
		t.Errorf("batch 4 holds %d lines, want 7 (f6, f7 and f8)", n)
	}
}
