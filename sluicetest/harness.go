package sluicetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Epoch is the manual clock's start: the first batch is at Epoch plus one
// batch interval.
var Epoch = time.Unix(0, 0)

// BatchTimeout bounds the real time one batch may take in Run before the
// test fails (a hung job fails the test instead of hanging it).
var BatchTimeout = 60 * time.Second

// Harness runs a streaming job batch by batch on a manual clock, like
// Spark's TestSuiteBase: build the graph on h.Context with Input and
// Collect, then Run a number of batches and compare each batch's output.
type Harness struct {
	t       testing.TB
	Context *sluice.Context
	Clock   *ManualClock
	batch   time.Duration
	infos   chan sluice.BatchInfo
	started bool
	ran     int
	// reported is the batch error TryRun returned; stopping the job
	// returns it again, which is then no news.
	reported error
}

// New makes a harness with the given batch interval, on local[2] unless
// opts say otherwise. The job is stopped when the test ends.
func New(t testing.TB, batch time.Duration, opts ...sluice.Option) *Harness {
	t.Helper()
	h := &Harness{t: t, Clock: NewManualClock(Epoch), batch: batch, infos: make(chan sluice.BatchInfo, 1024)}
	all := append([]sluice.Option{sluice.Master("local[2]")}, opts...)
	all = append(all, sluice.Batch(batch), sluice.WithClock(h.Clock),
		sluice.OnBatch(func(b sluice.BatchInfo) { h.infos <- b }))
	if m := os.Getenv(MasterEnv); m != "" {
		all = onMaster(t, m, all)
	}
	c, err := sluice.NewContext(all...)
	if err != nil {
		t.Fatalf("sluicetest: %v", err)
	}
	h.Context = c
	t.Cleanup(func() {
		if err := c.Stop(); err != nil && !h.failedRun() && !errors.Is(err, h.reported) {
			t.Errorf("sluicetest: job stopped with %v", err)
		}
	})
	return h
}

// MasterEnv names the environment variable that runs every harness on
// another master, e.g. SLUICE_TEST_MASTER='local-cluster[3]' go test ./...
// runs each test's job on three worker processes (started from the test
// binary, running only that test). The partitioning is kept, so results
// must be identical.
const MasterEnv = "SLUICE_TEST_MASTER"

// onMaster moves a harness's options to master m, keeping the number of
// partitions the options gave.
func onMaster(t testing.TB, m string, opts []sluice.Option) []sluice.Option {
	probe, err := sluice.NewContext(opts...)
	if err != nil {
		return opts // NewContext reports it again
	}
	parts := probe.Parallelism()
	_ = probe.Stop()
	harnesses.Lock()
	k := harnesses.perTest[t.Name()]
	harnesses.perTest[t.Name()]++
	harnesses.Unlock()
	return append(opts, sluice.Master(m), sluice.Parallelism(parts), sluice.WorkerArgs(runOnly(t.Name())...),
		sluice.WorkerKey(fmt.Sprintf("%s#%d", t.Name(), k)))
}

// harnesses counts the harnesses each test made, to name them.
var harnesses = struct {
	sync.Mutex
	perTest map[string]int
}{perTest: make(map[string]int)}

// runOnly gives the test flags that run only the named test.
func runOnly(name string) []string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return []string{"-test.run=" + strings.Join(parts, "/")}
}

func (h *Harness) failedRun() bool { return h.t.Failed() }

// Input makes a stream fed with the given batches, one per batch interval
// (empty batches after the last), in parts partitions (0: the context's
// parallelism).
func Input[T any](h *Harness, parts int, batches ...[]T) *sluice.Stream[T] {
	return sluice.QueueStream(h.Context, sluice.NewQueue(batches...), parts)
}

// Time returns the time of batch i (counting from 1).
func (h *Harness) Time(i int) time.Time { return Epoch.Add(time.Duration(i) * h.batch) }

// Run starts the job if needed and runs n more batches, each to
// completion, and returns their figures. A batch error fails the test.
func (h *Harness) Run(n int) []sluice.BatchInfo {
	h.t.Helper()
	infos, err := h.TryRun(n)
	if err != nil {
		h.t.Fatalf("sluicetest: %v", err)
	}
	return infos
}

// TryRun is Run returning the first batch error instead of failing; that
// error then stops the job without failing the test.
func (h *Harness) TryRun(n int) ([]sluice.BatchInfo, error) {
	if !h.started {
		if err := h.Context.Start(); err != nil {
			return nil, err
		}
		h.started = true
	}
	var out []sluice.BatchInfo
	for i := 0; i < n; i++ {
		h.Clock.Advance(h.batch)
		h.ran++
		select {
		case info := <-h.infos:
			out = append(out, info)
			if info.Err != nil {
				h.reported = info.Err
				return out, info.Err
			}
		case <-time.After(BatchTimeout):
			return out, fmt.Errorf("batch %d did not complete within %v", h.ran, BatchTimeout)
		}
	}
	return out, nil
}

// Output collects the records of every batch of a stream.
type Output[T any] struct {
	mu      sync.Mutex
	times   []time.Time
	batches [][]T
}

// Collect registers an output operation that gathers every dataset of s
// on the driver.
func Collect[T any](s *sluice.Stream[T]) *Output[T] {
	o := &Output[T]{}
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], t time.Time) error {
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		o.times = append(o.times, t)
		o.batches = append(o.batches, recs)
		return nil
	})
	return o
}

// Batches returns the records of every batch collected so far, in batch
// order (records within a batch in partition order).
func (o *Output[T]) Batches() [][]T {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([][]T, len(o.batches))
	for i, b := range o.batches {
		out[i] = append([]T(nil), b...)
	}
	return out
}

// Times returns the batch time of each collected batch.
func (o *Output[T]) Times() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.times...)
}
