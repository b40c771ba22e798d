package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// logPlan is a logSource batch: records [From, To) in Parts partitions.
type logPlan struct {
	From, To int64
	Parts    int
}

// logSource is a replayable log that grows by PerSecond records each
// second after sluicetest.Epoch: record i is "r<i>", except the ones in
// Bad, which do not decode.
type logSource struct {
	PerSecond int64
	NParts    int
	Bad       map[int64]bool

	mu        sync.Mutex
	committed []logPlan // driver side
	closed    bool
}

func (s *logSource) Plan(_ context.Context, req sluice.PlanRequest[logPlan]) (logPlan, error) {
	from := int64(0)
	if req.HasPrev {
		from = req.Prev.To
	}
	to := int64(req.Batch.Sub(sluicetest.Epoch)/time.Second) * s.PerSecond
	to = max(to, from)
	if req.Limit >= 0 && to-from > req.Limit {
		to = from + req.Limit
	}
	return logPlan{From: from, To: to, Parts: s.NParts}, nil
}

func (s *logSource) Parts(p logPlan) int {
	if p.To == p.From {
		return 0
	}
	return p.Parts
}

func (s *logSource) Count(p logPlan) int64 { return p.To - p.From }

func (s *logSource) Read(_ context.Context, p logPlan, part int) ([]string, []sluice.BadRecord, error) {
	n := p.To - p.From
	lo, hi := p.From+int64(part)*n/int64(p.Parts), p.From+int64(part+1)*n/int64(p.Parts)
	var recs []string
	var bad []sluice.BadRecord
	for i := lo; i < hi; i++ {
		if s.Bad[i] {
			bad = append(bad, sluice.BadRecord{Position: fmt.Sprintf("log@%d", i), Value: []byte("\xff"), Error: "not UTF-8"})
			continue
		}
		recs = append(recs, fmt.Sprintf("r%d", i))
	}
	return recs, bad, nil
}

func (s *logSource) Commit(_ context.Context, _ time.Time, p logPlan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, p)
	return nil
}

func (s *logSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// memSink collects what a sink is given, by key (in this process: the
// driver in local mode).
type memSink[T any] struct {
	mu     sync.Mutex
	writes map[sluice.OutputKey][]T
}

func (m *memSink[T]) Write(_ context.Context, k sluice.OutputKey, recs []T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writes == nil {
		m.writes = make(map[sluice.OutputKey][]T)
	}
	m.writes[k] = slices.Clone(recs)
	return nil
}

func (m *memSink[T]) all() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]sluice.OutputKey, 0, len(m.writes))
	for k := range m.writes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sluice.OutputKey) int {
		if c := a.Batch.Compare(b.Batch); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	var out []T
	for _, k := range keys {
		out = append(out, m.writes[k]...)
	}
	return out
}

func TestFromSourceReadsEveryRecordOnce(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	src := &logSource{PerSecond: 5, NParts: 3}
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("log")))
	h.Run(4)
	var got []string
	for i, b := range out.Batches() {
		if len(b) != 5 {
			t.Errorf("batch %d has %d records, want 5: %v", i+1, len(b), b)
		}
		got = append(got, b...)
	}
	for i := range 20 {
		if want := fmt.Sprintf("r%d", i); i >= len(got) || got[i] != want {
			t.Fatalf("records %v, want r0..r19 in order", got)
		}
	}
	if sluice.IsWorker() {
		return
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	want := []logPlan{{0, 5, 3}, {5, 10, 3}, {10, 15, 3}, {15, 20, 3}}
	if !slices.Equal(src.committed, want) {
		t.Errorf("committed %v, want %v", src.committed, want)
	}
}

func TestFromSourceMaxRateHoldsBack(t *testing.T) {
	h := sluicetest.New(t, time.Second, sluice.MaxRate(3), sluice.NoBackpressure())
	src := &logSource{PerSecond: 5, NParts: 2}
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("log")))
	h.Run(5)
	var sizes []int
	var got []string
	for _, b := range out.Batches() {
		sizes = append(sizes, len(b))
		got = append(got, b...)
	}
	if !slices.Equal(sizes, []int{3, 3, 3, 3, 3}) {
		t.Fatalf("batch sizes %v, want 3 each (MaxRate 3/s)", sizes)
	}
	for i := range got {
		if got[i] != fmt.Sprintf("r%d", i) {
			t.Fatalf("records %v: none skipped or repeated", got)
		}
	}
}

func TestFromSourceBadRecordFailsBatch(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	src := &logSource{PerSecond: 4, NParts: 2, Bad: map[int64]bool{6: true}}
	sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("orders")))
	h.Run(1)
	_, err := h.TryRun(1)
	if err == nil {
		t.Fatal("a bad record did not fail its batch")
	}
	for _, want := range []string{"input orders", "log@6", "not UTF-8", "DeadLetter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestFromSourceDeadLetter(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	src := &logSource{PerSecond: 4, NParts: 2, Bad: map[int64]bool{1: true, 6: true, 7: true}}
	dl := &memSink[sluice.BadRecord]{}
	in := sluice.FromSource(h.Context, src, sluice.Named("orders"), sluice.DeadLetter(dl))
	out := sluicetest.Collect(in)
	h.Run(3)
	var got []string
	for _, b := range out.Batches() {
		got = append(got, b...)
	}
	want := []string{"r0", "r2", "r3", "r4", "r5", "r8", "r9", "r10", "r11"}
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if sluice.IsWorker() {
		return
	}
	if n := h.Context.Status().BadRecords["orders"]; n != 3 {
		t.Errorf("Status counts %d bad records, want 3", n)
	}
	if sluice.IsWorker() || !strings.HasPrefix(h.Context.Status().Master, "local[") {
		return // the sink's writes are in the worker processes
	}
	var pos []string
	for _, b := range dl.all() {
		pos = append(pos, b.Position)
		if b.Input != "orders" || b.Error != "not UTF-8" || string(b.Value) != "\xff" || b.Batch.IsZero() {
			t.Errorf("dead letter %+v", b)
		}
	}
	if !slices.Equal(pos, []string{"log@1", "log@6", "log@7"}) {
		t.Errorf("dead letters at %v, want log@1, log@6, log@7", pos)
	}
}

func TestFromSourceNeedsName(t *testing.T) {
	c, err := sluice.NewContext(sluice.Master("local[1]"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	sluice.Print(sluice.FromSource(c, &logSource{PerSecond: 1, NParts: 1}), 1)
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "sluice.Named") {
		t.Fatalf("Start: %v, want an error asking for a name", err)
	}
}

// growingLog is a log that holds Avail records: its plans are not a pure
// function of the batch time (as Kafka's are not).
type growingLog struct{ avail atomic.Int64 }

func (g *growingLog) Plan(_ context.Context, req sluice.PlanRequest[logPlan]) (logPlan, error) {
	from := int64(0)
	if req.HasPrev {
		from = req.Prev.To
	}
	return logPlan{From: from, To: max(from, g.avail.Load()), Parts: 2}, nil
}

func (g *growingLog) Parts(p logPlan) int { return p.Parts }

func (g *growingLog) Read(ctx context.Context, p logPlan, part int) ([]string, []sluice.BadRecord, error) {
	return (&logSource{}).Read(ctx, p, part)
}

// TestFromSourceRestartRereadsPlannedBatch loses the driver while a batch
// runs, after one of its outputs ran, and resumes it from its checkpoint
// once the source holds more records: the batch is run again with the
// records it was planned with (its plan was in the checkpoint before its
// jobs ran), and the next batch reads the rest.
func TestFromSourceRestartRereadsPlannedBatch(t *testing.T) {
	loc := t.TempDir()
	src := &growingLog{}
	var mu sync.Mutex
	got := make(map[int64][]string) // by batch second
	var fail atomic.Bool
	build := func(c *sluice.Context) {
		in := sluice.FromSource(c, src, sluice.Named("log"))
		sluice.ForeachBatch(in, func(ctx context.Context, d sluice.Dataset[string], bt time.Time) error {
			recs, err := d.Collect(ctx)
			if err != nil {
				return err
			}
			mu.Lock()
			got[int64(bt.Sub(sluicetest.Epoch)/time.Second)] = recs
			mu.Unlock()
			return nil
		})
		sluice.ForeachBatch(in, func(context.Context, sluice.Dataset[string], time.Time) error {
			if fail.Load() {
				return errors.New("the driver is lost here")
			}
			return nil
		})
	}
	start := func() (*sluice.Context, *sluicetest.ManualClock, chan sluice.BatchInfo) {
		clock := sluicetest.NewManualClock(sluicetest.Epoch)
		infos := make(chan sluice.BatchInfo, 64)
		c, err := sluice.GetOrCreate(loc, build, sluice.Master("local[2]"), sluice.Batch(time.Second), sluice.WithClock(clock),
			sluice.Output(io.Discard), sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b }))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c, clock, infos
	}
	step := func(clock *sluicetest.ManualClock, infos chan sluice.BatchInfo) sluice.BatchInfo {
		clock.Advance(time.Second)
		select {
		case b := <-infos:
			return b
		case <-time.After(30 * time.Second):
			t.Fatal("no batch in 30s")
			return sluice.BatchInfo{}
		}
	}
	c1, clock1, infos1 := start()
	for i, avail := range []int64{5, 10, 15} {
		src.avail.Store(avail)
		fail.Store(i == 2)
		if b := step(clock1, infos1); (b.Err != nil) != (i == 2) {
			t.Fatalf("batch %d: %v", i+1, b.Err)
		}
	}
	sluice.Crash(c1)
	mu.Lock()
	first := slices.Clone(got[3])
	mu.Unlock()
	if len(first) != 5 {
		t.Fatalf("batch 3 first read %v, want r10..r14", first)
	}

	src.avail.Store(30) // more records arrived while the driver was down
	fail.Store(false)
	c2, clock2, infos2 := start()
	defer c2.Stop()
	clock2.Set(sluicetest.Epoch.Add(2 * time.Second))
	for range 2 {
		if b := step(clock2, infos2); b.Err != nil {
			t.Fatal(b.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got[3], first) {
		t.Errorf("batch 3 read %v after the restart, %v before: its plan was lost", got[3], first)
	}
	if len(got[4]) != 15 || got[4][0] != "r15" {
		t.Errorf("batch 4 read %v, want r15..r29", got[4])
	}
}
