package sluice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
