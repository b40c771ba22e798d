package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// The map side of a shuffle runs on three workers; every reduce partition
// needs a bucket of every map partition, so each reduce task reads buckets
// of other workers over the network.
func TestShuffleAcrossWorkers(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	var ws []*testWorker
	for range 3 {
		ws = append(ws, c.addWorker(nil))
	}
	c.waitReady(3)
	const parts, n, mod = 6, 7, 4
	sc := c.reg.Scope(1, 1)
	g := modGroup(sc, source(sc, parts, n, nil, nil), mod)
	ctx := testCtx(t)

	got, err := c.d.Runtime.RunJob(ctx, g, 1, collectAction())
	if err != nil {
		t.Fatal(err)
	}
	want := wantGroup(parts, n, mod)
	checkGroups(t, got, want)
	holders := 0
	for _, w := range ws {
		if w.runtime.Shuffle.Len() > 0 {
			holders++
		}
	}
	if holders < 2 {
		t.Fatalf("map outputs are on %d worker(s); the test needs several, so that buckets cross the network", holders)
	}

	t.Run("count", func(t *testing.T) {
		got, err := c.d.Runtime.RunJob(ctx, g, 1, runtime.Action{Kind: runtime.ActCount})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != int64(len(want[i])) {
				t.Errorf("count of partition %d = %#v, want int64(%d)", i, v, len(want[i]))
			}
		}
	})
	t.Run("take", func(t *testing.T) {
		got, err := c.d.Runtime.RunJob(ctx, g, 1, runtime.Action{Kind: runtime.ActTake, N: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if w := want[i][:3]; !slices.Equal(asInts(v), w) {
				t.Errorf("take 3 of partition %d = %#v, want %v", i, v, w)
			}
		}
	})
	t.Run("func", func(t *testing.T) {
		// The function cannot travel: workers ship the partition and the
		// driver applies it, in RunJob's goroutine.
		var calls atomic.Int64
		sum := runtime.Func(func(tc lineage.TaskContext, p int, part any) (any, error) {
			calls.Add(1)
			s := 0
			for _, x := range asInts(part) {
				s += x
			}
			return s, nil
		})
		got, err := c.d.Runtime.RunJob(ctx, g, 1, sum)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			s := 0
			for _, x := range want[i] {
				s += x
			}
			if v != s {
				t.Errorf("sum of partition %d = %#v, want %d", i, v, s)
			}
		}
		if calls.Load() != mod {
			t.Errorf("the function ran %d times, want %d (once per partition, on the driver)", calls.Load(), mod)
		}
	})
	t.Run("func error", func(t *testing.T) {
		fail := runtime.Func(func(lineage.TaskContext, int, any) (any, error) { return nil, errTest })
		if _, err := c.d.Runtime.RunJob(ctx, g, 1, fail); !errors.Is(err, errTest) {
			t.Fatalf("RunJob = %v, want the function's error", err)
		}
	})
}

// A worker without the cluster secret cannot even finish the TLS
// handshake: it says why, the driver logs and counts the refusal, and
// serves good workers afterwards.
func TestWrongSecretRefused(t *testing.T) {
	sink, logger := newLogSink()
	var refusals atomic.Int64
	sec := rpc.Security{Secret: testSecret, Logger: logger, Refusals: &refusals}
	c := newCluster(t, DriverConfig{Security: sec, Logger: logger})

	bad := c.newWorker(func(cfg *WorkerConfig) {
		cfg.Security = rpc.Security{Secret: []byte("another-secret-of-32-bytes-long!"), Logger: quiet}
	})
	err := bad.Run(testCtx(t))
	bad.Close()
	if err == nil || !strings.Contains(err.Error(), "do not share the cluster secret") {
		t.Fatalf("Run = %v, want an error saying the processes do not share the cluster secret", err)
	}
	if errors.Is(err, ErrRefused) {
		t.Errorf("Run = %v: a failed handshake is not a refusal by the driver", err)
	}
	eventually(t, "the driver counts the refusal", func() bool { return refusals.Load() >= 1 })
	// The count and the log line are two steps: wait for both.
	eventually(t, "the driver logs the refusal", func() bool { return strings.Contains(sink.String(), "refused connection") })
	if ws := c.d.Workers(); len(ws) != 0 {
		t.Fatalf("Workers() = %+v after a refused worker", ws)
	}

	c.addWorker(nil)
	c.waitReady(1)
	c.runGroup(1, 3, 4, 2)
}

// Each part of the fingerprint that differs is refused, by name.
func TestFingerprintMismatchRefused(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	cases := []struct {
		name string
		edit func(f *Fingerprint)
		want string
	}{
		{"binary", func(f *Fingerprint) { f.Binary = strings.Repeat("cd", 32) }, "the binaries differ (driver abababababab, worker cdcdcdcdcdcd)"},
		{"args", func(f *Fingerprint) { f.Args = []string{"-job", "other"} }, "the job arguments differ"},
		{"config", func(f *Fingerprint) { f.Config = "batch=2s parallelism=4" }, "the configuration differs (driver batch=1s parallelism=4, worker batch=2s parallelism=4)"},
		{"graph", func(f *Fingerprint) { f.Graph = []string{f.Graph[0], "2 map int parents=1"} }, "the stream graphs differ at node 2"},
		{"graph shorter", func(f *Fingerprint) { f.Graph = f.Graph[:1] }, `worker "none"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := testFingerprint
			fp.Graph = slices.Clone(fp.Graph)
			tc.edit(&fp)
			w := c.newWorker(func(cfg *WorkerConfig) { cfg.Fingerprint = fp })
			err := w.Run(testCtx(t))
			w.Close()
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want ErrRefused saying %q", err, tc.want)
			}
		})
	}
	if ws := c.d.Workers(); len(ws) != 0 {
		t.Fatalf("Workers() = %+v after refusals", ws)
	}
	c.addWorker(nil)
	c.waitReady(1)
	c.runGroup(1, 2, 3, 2)
}

func TestFingerprintDiff(t *testing.T) {
	f := testFingerprint
	if d := f.Diff(f); d != "" {
		t.Fatalf("Diff of equal fingerprints = %q", d)
	}
	if d := (Fingerprint{}).Diff(Fingerprint{}); d != "" {
		t.Fatalf("Diff of zero fingerprints = %q", d)
	}
	cases := []struct {
		w    Fingerprint
		want string
	}{
		// The binary is checked first, and short hashes are not cut.
		{Fingerprint{Binary: "x", Config: "other"}, `the binaries differ (driver abababababab, worker x)`},
		{Fingerprint{Binary: f.Binary, Args: nil, Config: f.Config, Graph: f.Graph}, `the job arguments differ (driver ["-job" "test"], worker [])`},
		{Fingerprint{Binary: f.Binary, Args: f.Args, Config: "", Graph: f.Graph}, "the configuration differs"},
		{Fingerprint{Binary: f.Binary, Args: f.Args, Config: f.Config, Graph: append(slices.Clone(f.Graph), "3 x")}, `the stream graphs differ at node 3 (driver "none", worker "3 x")`},
		{Fingerprint{Binary: f.Binary, Args: f.Args, Config: f.Config, Graph: []string{"0 y", f.Graph[1]}}, `at node 1 (driver "1 source int", worker "0 y")`},
	}
	for _, tc := range cases {
		if d := f.Diff(tc.w); !strings.Contains(d, tc.want) {
			t.Errorf("Diff(%+v) = %q, want it to contain %q", tc.w, d, tc.want)
		}
	}
}

// A worker that joins between jobs gets tasks of the following jobs.
func TestWorkerJoinsMidRun(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	first := c.addWorker(nil)
	c.waitReady(1)
	c.runGroup(1, 4, 3, 2)

	second := c.addWorker(nil)
	c.waitReady(2)
	name := second.testName(t)
	for i := range 3 {
		c.runGroup(int32(10+i), 8, 3, 4)
	}
	wi, ok := c.workerInfo(name)
	if !ok {
		t.Fatalf("the new worker %s is not listed: %+v", name, c.d.Workers())
	}
	if wi.Tasks == 0 {
		t.Fatalf("the new worker ran no task: %+v", c.d.Workers())
	}
	if old, _ := c.workerInfo(first.testName(t)); old.Tasks == 0 {
		t.Fatalf("the first worker ran no task: %+v", c.d.Workers())
	}
	eventually(t, "the new worker's heartbeat reports its map outputs", func() bool {
		wi, _ := c.workerInfo(name)
		return wi.Shuffles > 0 && wi.Slots == 1 && wi.Addr == second.Addr()
	})
}

// A worker whose session ends while a job runs is dropped (and
// OnWorkerLost told); its tasks and map outputs are redone on the other
// worker and the job's result is right, as is the next job's.
func TestWorkerLostDuringJob(t *testing.T) {
	told := make(chan string, 4)
	c := newCluster(t, DriverConfig{OnWorkerLost: func(w string) { told <- w }})
	a := c.addWorker(nil)
	b := c.addWorker(nil)
	c.waitReady(2)
	const parts, n, mod = 4, 5, 3
	gate := make(chan struct{})
	var started atomic.Int64
	sc := c.reg.Scope(1, 1)
	g := modGroup(sc, source(sc, parts, n, gate, &started), mod)
	type result struct {
		got []any
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := c.d.Runtime.RunJob(testCtx(t), g, 1, collectAction())
		done <- result{got, err}
	}()
	eventually(t, "both workers run a map task", func() bool {
		return a.runtime.Running() > 0 && b.runtime.Running() > 0
	})
	lost := b.testName(t)
	if err := b.stop(); err == nil {
		t.Errorf("Run of the stopped worker returned nil, want the session's end")
	}
	eventually(t, "the driver drops the lost worker", func() bool {
		_, ok := c.workerInfo(lost)
		return !ok && len(c.d.Workers()) == 1
	})
	if w := <-told; w != lost {
		t.Errorf("OnWorkerLost(%q), want %q", w, lost)
	}
	close(gate)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkGroups(t, r.got, wantGroup(parts, n, mod))
	c.runGroup(2, 5, 4, 3)
	if st := c.d.Runtime.Stats(); st.Workers != 1 {
		t.Fatalf("runtime stats %+v, want 1 worker", st)
	}
}

// A worker whose shuffle service cannot be reached (its server is stopped;
// its session with the driver goes on, so it is not lost) holds several
// map outputs a second job's reducers read. Their fetch failures say it is
// unreachable: all its outputs are recomputed at once, on the other
// workers, and the job succeeds. With MaxStageAttempts=2, recomputing
// them one per round of reducers would fail the job.
func TestUnreachableWorkerOutputsRecomputedElsewhere(t *testing.T) {
	c := newCluster(t, DriverConfig{Runtime: runtime.Config{Scheduler: scheduler.Config{MaxStageAttempts: 2}}})
	const parts, n, mod = 6, 5, 3
	sc := c.reg.Scope(1, 1)
	src := source(sc, parts, n, nil, nil)
	g := modGroup(sc, src, mod)
	var ws []*testWorker
	var maps []*lookups // map tasks run, per worker
	for range 3 {
		l := &lookups{Resolver: registry{c.reg}, id: src.ID}
		maps = append(maps, l)
		ws = append(ws, c.addWorker(func(cfg *WorkerConfig) { cfg.Graph = l }))
	}
	c.waitReady(3)
	ctx := testCtx(t)
	if _, err := c.d.Runtime.RunJob(ctx, g, 1, collectAction()); err != nil {
		t.Fatal(err)
	}
	victim := 0
	for i := range ws {
		if maps[i].n.Load() > maps[victim].n.Load() {
			victim = i
		}
	}
	before := make([]int64, len(ws))
	for i := range ws {
		before[i] = maps[i].n.Load()
	}
	if before[victim] < 2 {
		t.Fatalf("map tasks per worker %v: the test needs a worker with two outputs", before)
	}
	ws[victim].server.Stop()

	got, err := c.d.Runtime.RunJob(ctx, g, 1, collectAction())
	if err != nil {
		t.Fatalf("second job: %v (map tasks per worker before it: %v)", err, before)
	}
	checkGroups(t, got, wantGroup(parts, n, mod))
	var rerun int64
	for i := range ws {
		d := maps[i].n.Load() - before[i]
		switch {
		case i == victim && d != 0:
			t.Errorf("the unreachable worker recomputed %d map partitions, want none", d)
		case i != victim:
			rerun += d
		}
	}
	if rerun != before[victim] {
		t.Errorf("the other workers recomputed %d map partitions, want the %d of the unreachable worker", rerun, before[victim])
	}
	if _, ok := c.workerInfo(ws[victim].testName(t)); !ok {
		t.Errorf("the unreachable worker was dropped; the test needs its session alive")
	}
}

// lookups is a worker's graph that counts the tasks computing dataset id.
type lookups struct {
	runtime.Resolver
	id lineage.ID
	n  atomic.Int64
}

func (l *lookups) Lookup(id lineage.ID) (*lineage.Dataset, error) {
	if id == l.id {
		l.n.Add(1)
	}
	return l.Resolver.Lookup(id)
}

// A session that says hello and then nothing is dropped after
// WorkerTimeout, while a worker sending heartbeats stays.
func TestSilentWorkerTimesOut(t *testing.T) {
	sink, logger := newLogSink()
	c := newCluster(t, DriverConfig{Heartbeat: 50 * 1e6, WorkerTimeout: 300 * 1e6, Logger: logger})
	live := c.addWorker(nil)
	c.waitReady(1)

	s := openRaw(t, c.d.Addr())
	if err := s.Send(&toDriver{Hello: &hello{Name: "silent", Addr: "127.0.0.1:1", Slots: 1, Fingerprint: testFingerprint}}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Recv()
	if err != nil || m.Welcome == nil || m.Welcome.Name != "silent" || m.Welcome.Heartbeat != 50e6 {
		t.Fatalf("Recv = %+v, %v; want a welcome for silent with a 50ms heartbeat", m, err)
	}
	if _, ok := c.workerInfo("silent"); !ok {
		t.Fatalf("the silent worker is not listed: %+v", c.d.Workers())
	}
	// The driver ends the session: Recv fails once the queued commands
	// (peer lists) are read.
	for {
		if _, err := s.Recv(); err != nil {
			break
		}
	}
	if _, ok := c.workerInfo("silent"); ok {
		t.Fatalf("the silent worker is still listed after its session ended: %+v", c.d.Workers())
	}
	if _, ok := c.workerInfo(live.testName(t)); !ok {
		t.Fatalf("the live worker was dropped too: %+v", c.d.Workers())
	}
	if log := sink.String(); !strings.Contains(log, "no heartbeat") || !strings.Contains(log, "worker=silent") {
		t.Errorf("the driver's log does not say the silent worker sent no heartbeat:\n%s", log)
	}
	c.runGroup(1, 3, 3, 2)
}

// openRaw opens a session with the driver as a hand-written client would.
func openRaw(t *testing.T, addr string) *rpc.BidiStream[toDriver, toWorker] {
	t.Helper()
	cc, err := security().Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(testCtx(t))
	t.Cleanup(cancel)
	s, err := rpc.OpenBidi[toDriver, toWorker](ctx, cc, driverService, "Session")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A cached partition of a dataset with Replicas 2 is copied over the
// network (PutBlock) to another worker; when the worker that computed it
// is gone, and the lineage is cut, the copy answers.
func TestReplicatedBlocksOverTheNetwork(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	a := c.addWorker(nil)
	b := c.addWorker(nil)
	c.waitReady(2)
	open := make(chan struct{})
	close(open)
	var started atomic.Int64
	sc := c.reg.Scope(1, 1)
	src := source(sc, 4, 5, open, &started)
	src.Persist()
	src.Replicas = 2
	first, err := c.d.Runtime.RunJob(testCtx(t), src, 1, collectAction())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.runtime.Blocks.Stats().Blocks + b.runtime.Blocks.Stats().Blocks; got != 8 {
		t.Fatalf("%d blocks over the two workers, want 4 partitions × 2", got)
	}
	src.Truncate(runtime.ReadCached(src))
	lost := a.testName(t)
	if err := a.stop(); err == nil {
		t.Errorf("Run of the stopped worker returned nil")
	}
	eventually(t, "the driver drops the lost worker", func() bool {
		_, ok := c.workerInfo(lost)
		return !ok
	})
	again, err := c.d.Runtime.RunJob(testCtx(t), src, 1, collectAction())
	if err != nil {
		t.Fatalf("after losing a worker: %v", err)
	}
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("got %v, want %v", again, first)
	}
}
