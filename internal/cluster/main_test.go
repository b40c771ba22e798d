package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The helpers below build a small in-process cluster: one Driver and
// Workers on loopback gRPC with mutual TLS, sharing one lineage registry
// (each worker resolves task descriptors in it, as a worker process would
// in its own copy of the graph).

var testSecret = []byte("sluice-cluster-test-secret-32by!")

// testFingerprint is what the driver and the good workers present.
var testFingerprint = Fingerprint{
	Graph:  []string{"1 source int", "2 shuffle int parents=1"},
	Config: "batch=1s parallelism=4",
	Args:   []string{"-job", "test"},
	Binary: strings.Repeat("ab", 32),
}

// quiet is a logger for the parts of a test whose logs nobody reads.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func security() rpc.Security { return rpc.Security{Secret: testSecret, Logger: quiet} }

// testCtx bounds a test's calls, so that a hang fails the test instead of
// the whole run.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or a deadline passes; it is for
// asynchronous effects (heartbeats, losses), never a timing assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logSink is a slog destination that keeps the text.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogSink() (*logSink, *slog.Logger) {
	s := &logSink{}
	return s, slog.New(slog.NewTextHandler(s, nil))
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type testCluster struct {
	t   *testing.T
	d   *Driver
	reg *lineage.Registry
}

// newCluster starts a driver; cfg's Security and Fingerprint default to
// the test's. The driver is closed when the test ends, after its workers.
func newCluster(t *testing.T, cfg DriverConfig) *testCluster {
	t.Helper()
	if cfg.Security.Secret == nil {
		cfg.Security = security()
	}
	if cfg.Fingerprint.Binary == "" {
		cfg.Fingerprint = testFingerprint
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return &testCluster{t: t, d: d, reg: lineage.NewRegistry()}
}

// testWorker is a Worker whose Run goes on in the background.
type testWorker struct {
	*Worker
	cancel context.CancelFunc
	done   chan error // Run's result
	once   sync.Once
}

// stop ends Run (as a dying process's session would end), waits for it,
// then closes the worker. It returns Run's error.
func (tw *testWorker) stop() error {
	var err error
	tw.once.Do(func() {
		tw.cancel()
		err = <-tw.done
		tw.Close()
	})
	return err
}

// newWorker makes a worker for the cluster's driver without running it.
func (c *testCluster) newWorker(edit func(*WorkerConfig)) *Worker {
	c.t.Helper()
	cfg := WorkerConfig{Driver: c.d.Addr(), Slots: 1, Security: security(), Fingerprint: testFingerprint,
		Graph: registry{c.reg}, Logger: quiet}
	if edit != nil {
		edit(&cfg)
	}
	w, err := NewWorker(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

// addWorker starts a worker's Run; t.Cleanup stops it.
func (c *testCluster) addWorker(edit func(*WorkerConfig)) *testWorker {
	c.t.Helper()
	w := c.newWorker(edit)
	ctx, cancel := context.WithCancel(context.Background())
	tw := &testWorker{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { tw.done <- w.Run(ctx) }()
	c.t.Cleanup(func() { _ = tw.stop() })
	return tw
}

// waitReady waits until n workers are connected and the runtime driver
// knows all of them (WaitWorkers returns once sessions exist, which may
// be just before the runtime hears of the last one).
func (c *testCluster) waitReady(n int) {
	c.t.Helper()
	if err := c.d.WaitWorkers(testCtx(c.t), n); err != nil {
		c.t.Fatal(err)
	}
	eventually(c.t, fmt.Sprintf("the runtime knows %d workers", n), func() bool { return c.d.Runtime.Stats().Workers == n })
}

// workerInfo returns the driver's view of the worker named name.
func (c *testCluster) workerInfo(name string) (WorkerInfo, bool) {
	for _, wi := range c.d.Workers() {
		if wi.Name == name {
			return wi, true
		}
	}
	return WorkerInfo{}, false
}

// testName is the name the driver gave w (it learns it from the
// welcome, which may come after the driver lists it: wait for it).
func (w *Worker) testName(t testing.TB) string {
	t.Helper()
	var name string
	eventually(t, "the worker is welcomed", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		name = w.name
		return name != ""
	})
	return name
}

// Datasets (copied from internal/runtime's tests).

type ints struct{}

func (ints) Name() string                    { return "int" }
func (ints) Len(p any) int                   { return len(p.([]int)) }
func (ints) Head(p any, n int) any           { s := p.([]int); return s[:min(n, len(s))] }
func (ints) Empty() any                      { return []int(nil) }
func (ints) Encode(dst []byte, p any) []byte { return intCodec.Append(dst, p.([]int)) }
func (ints) Decode(b []byte) (any, error)    { return intCodec.Decode(b) }

var intCodec = codec.For[int]()

func asInts(v any) []int { s, _ := v.([]int); return s }

// registry resolves datasets from a lineage registry; it has no outputs.
type registry struct{ *lineage.Registry }

func (registry) Output(node int32) (runtime.OutputFunc, error) {
	return nil, fmt.Errorf("no output node %d", node)
}

// source makes a dataset of parts partitions, partition p = [p*10, p*10+n).
// gate, if not nil, holds every computation until it is closed (or the
// task is cancelled); started counts computations begun.
func source(sc *lineage.Scope, parts, n int, gate chan struct{}, started *atomic.Int64) *lineage.Dataset {
	return sc.New("source", ints{}, parts, func(tc lineage.TaskContext, p int) (any, error) {
		if started != nil {
			started.Add(1)
		}
		if gate != nil {
			select {
			case <-gate:
			case <-tc.Context().Done():
				return nil, tc.Context().Err()
			}
		}
		out := make([]int, n)
		for i := range out {
			out[i] = p*10 + i
		}
		return out, nil
	})
}

// wantSource is source's partitions, flattened.
func wantSource(parts, n int) []int {
	var out []int
	for p := 0; p < parts; p++ {
		for i := 0; i < n; i++ {
			out = append(out, p*10+i)
		}
	}
	return out
}

// modGroup shuffles ints by value mod n: reduce partition r holds, sorted,
// every value v of the parent with v%n == r. Each reduce partition needs a
// bucket of every map partition.
func modGroup(sc *lineage.Scope, parent *lineage.Dataset, n int) *lineage.Dataset {
	id := sc.Alloc()
	dep := &lineage.ShuffleDep{P: parent, ID: lineage.ShuffleID{Child: id}, Parts: n, Bucket: ints{},
		Split: func(part any, n int) []any {
			out := make([]any, n)
			bs := make([][]int, n)
			for _, x := range asInts(part) {
				bs[x%n] = append(bs[x%n], x)
			}
			for i := range bs {
				out[i] = bs[i]
			}
			return out
		}}
	return sc.NewWithID(id, "group", ints{}, n, func(tc lineage.TaskContext, r int) (any, error) {
		bs, err := tc.Fetch(dep, r)
		if err != nil {
			return nil, err
		}
		var all []int
		for _, b := range bs {
			all = append(all, asInts(b)...)
		}
		slices.Sort(all)
		return all, nil
	}, dep)
}

// wantGroup is modGroup's result over source(parts, n).
func wantGroup(parts, n, mod int) [][]int {
	out := make([][]int, mod)
	for _, v := range wantSource(parts, n) {
		out[v%mod] = append(out[v%mod], v)
	}
	for _, o := range out {
		slices.Sort(o)
	}
	return out
}

func flatten(parts []any) []int {
	var out []int
	for _, p := range parts {
		out = append(out, asInts(p)...)
	}
	return out
}

func collectAction() runtime.Action { return runtime.Action{Kind: runtime.ActCollect} }

// runGroup runs a collect job of modGroup(source(parts, n), mod) and
// checks its result.
func (c *testCluster) runGroup(node int32, parts, n, mod int) {
	c.t.Helper()
	sc := c.reg.Scope(node, 1)
	g := modGroup(sc, source(sc, parts, n, nil, nil), mod)
	got, err := c.d.Runtime.RunJob(testCtx(c.t), g, 1, collectAction())
	if err != nil {
		c.t.Fatal(err)
	}
	checkGroups(c.t, got, wantGroup(parts, n, mod))
}

func checkGroups(t testing.TB, got []any, want [][]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d partitions, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(asInts(got[i]), want[i]) {
			t.Fatalf("partition %d = %v, want %v", i, got[i], want[i])
		}
	}
}

var errTest = errors.New("test error")
