package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real sluice binary on local-cluster: a driver
// process and worker processes, killed with SIGKILL where the test says.

var binary struct {
	once sync.Once
	path string
	err  error
}

// sluiceBinary builds the command once per test run.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the sluice binary with worker processes")
	}
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// process is a running sluice command whose standard error is watched
// for the workers that joined.
type process struct {
	cmd *exec.Cmd
	// stdout may be read while the command runs (the demo's first line
	// is its web UI's address).
	stdout lockedBuffer
	mu     sync.Mutex
	stderr bytes.Buffer
	pids   []int
	joined chan int // worker PIDs, as they join
	done   chan error
}

var joinedRE = regexp.MustCompile(`cluster: worker joined .* pid=(\d+)`)

func start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(sluiceBinary(t), args...), joined: make(chan int, 64), done: make(chan error, 1)}
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			if m := joinedRE.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[1])
				p.pids = append(p.pids, pid)
				p.joined <- pid
			}
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		for _, pid := range p.workerPIDs() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p
}

// lockedBuffer is a bytes.Buffer that the command's output goroutine
// writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of the output so far.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (p *process) workerPIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.pids...)
}

func (p *process) errors() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitJoined waits until n workers joined and returns their PIDs.
func (p *process) waitJoined(t *testing.T, n int) []int {
	t.Helper()
	var pids []int
	deadline := time.After(60 * time.Second)
	for len(pids) < n {
		select {
		case pid := <-p.joined:
			pids = append(pids, pid)
		case <-deadline:
			t.Fatalf("%d of %d workers joined; stderr:\n%s", len(pids), n, p.errors())
		}
	}
	return pids
}

// wait waits for the command to exit.
func (p *process) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		t.Fatalf("still running after %v; stderr:\n%s", within, p.errors())
		return nil
	}
}

// alive reports whether a process exists (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func assertGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for _, pid := range pids {
		for alive(pid) {
			if ctx.Err() != nil {
				t.Fatalf("worker process %d still running %v after the driver ended", pid, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestDemoOnLocalCluster(t *testing.T) {
	p := start(t, "demo", "--master", "local-cluster[3]", "--duration", "3s", "--batch", "500ms", "--rate", "4000")
	pids := p.waitJoined(t, 3)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, p.errors())
	}
	if n := strings.Count(p.stdout.String(), "── batch"); n != 6 {
		t.Fatalf("%d batch tables, want 6:\n%s", n, p.stdout.String())
	}
	if !strings.Contains(p.stdout.String(), "2,000 events") {
		t.Errorf("no batch of 2,000 events:\n%s", p.stdout.String())
	}
	assertGone(t, pids, 5*time.Second)
}

func TestKilledDriverLeavesNoWorkers(t *testing.T) {
	p := start(t, "demo", "--master", "local-cluster[2]", "--duration", "60s", "--batch", "200ms", "--rate", "1000")
	pids := p.waitJoined(t, 2)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(t, 10*time.Second)
	assertGone(t, pids, 5*time.Second)
}

// A stateless job survives a worker killed mid-run: its tasks run again on
// the others, and the job ends normally.
func TestKilledWorkerMidRun(t *testing.T) {
	p := start(t, "bench", "grep", "--master", "local-cluster[3]", "--duration", "5s", "--batch", "250ms",
		"--rate", "200000", "--warmup", "1", "--json")
	pids := p.waitJoined(t, 3)
	time.Sleep(1500 * time.Millisecond) // a few batches in
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("bench: %v\n%s", err, p.errors())
	}
	var r map[string]any
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	if r["records"].(float64) <= 0 {
		t.Fatalf("no records: %s", p.stdout.String())
	}
	if !strings.Contains(p.errors(), "worker lost") {
		t.Errorf("the driver did not report the lost worker:\n%s", p.errors())
	}
	assertGone(t, pids, 5*time.Second)
}

var secretRE = regexp.MustCompile(`SLUICE_SECRET=([0-9a-f]+)`)

// Standalone: a driver waits for workers started by hand; they fetch its
// job, join, and one that joins late is used too. A worker without the
// cluster secret is refused with a clear error.
func TestStandaloneDriverAndWorkers(t *testing.T) {
	addr := freeAddr(t)
	drv := start(t, "driver", "--workers", "1", "--listen", addr, "demo", "--duration", "4s", "--batch", "250ms", "--rate", "2000")
	var secret string
	for deadline := time.Now().Add(30 * time.Second); secret == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := secretRE.FindStringSubmatch(drv.errors()); m != nil {
			secret = m[1]
		}
	}
	if secret == "" {
		t.Fatalf("the driver printed no secret:\n%s", drv.errors())
	}
	worker := func(secret string) *exec.Cmd {
		cmd := exec.Command(sluiceBinary(t), "worker", "--driver", addr)
		cmd.Env = append(os.Environ(), "SLUICE_SECRET="+secret)
		return cmd
	}
	w1 := worker(secret)
	var w1err bytes.Buffer
	w1.Stderr = &w1err
	if err := w1.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w1.Process.Kill() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker 1's stderr:\n%s", w1err.String())
		}
	})
	drv.waitJoined(t, 1)
	time.Sleep(time.Second) // the job is running: the next worker joins mid-run
	w2 := worker(secret)
	if err := w2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w2.Process.Kill() })
	drv.waitJoined(t, 1)

	out, err := worker(strings.Repeat("ab", 16)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "do not share the cluster secret") {
		t.Errorf("a worker with another secret: %v\n%s", err, out)
	}
	if err := drv.wait(t, 60*time.Second); err != nil {
		t.Fatalf("driver: %v\n%s", err, drv.errors())
	}
	if n := strings.Count(drv.stdout.String(), "── batch"); n != 16 {
		t.Errorf("%d batch tables, want 16", n)
	}
	for i, w := range []*exec.Cmd{w1, w2} {
		if err := w.Wait(); err != nil {
			t.Errorf("worker %d: %v", i+1, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Bad addresses: a worker whose driver never listens gives up with a clear
// error once --wait passes; a driver whose port is taken says so.
func TestBadAddresses(t *testing.T) {
	bin := sluiceBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "worker", "--driver", addr, "--wait", "1s")
	cmd.Env = append(os.Environ(), "SLUICE_SECRET="+strings.Repeat("ab", 16))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot reach "+addr) {
		t.Errorf("worker without a driver: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd = exec.Command(bin, "driver", "--listen", l.Addr().String(), "demo", "--duration", "1s")
	cmd.Env = append(os.Environ(), "SLUICE_SECRET="+strings.Repeat("ab", 16))
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") {
		t.Errorf("driver on a busy port: %v\n%s", err, out)
	}
}

// The chaos command in short: workers and the driver of a stateful job
// killed with SIGKILL, the output (files, and PostgreSQL when the suite has
// a server) identical to a failure-free run's. The seed is random and
// printed, so a failure can be replayed with --seed.
func TestChaosShort(t *testing.T) {
	seed := time.Now().UnixNano()%1_000_000 + 1
	t.Logf("seed %d (rerun: go run ./cmd/sluice chaos --seed %d ...)", seed, seed)
	args := []string{"chaos", "--workers", "3", "--duration", "12s", "--batch", "500ms", "--kill-worker-every", "2s",
		"--kill-driver-at", "4s", "--rate", "4000", "--seed", strconv.FormatInt(seed, 10), "--json"}
	if pg := os.Getenv("SLUICE_TEST_POSTGRES"); pg != "" {
		args = append(args, "--postgres", pg)
	}
	p := start(t, args...)
	if err := p.wait(t, 4*time.Minute); err != nil {
		t.Fatalf("chaos (seed %d): %v\nstdout: %s\nstderr:\n%s", seed, err, p.stdout.String(), p.errors())
	}
	var r struct {
		Batches     int   `json:"batches"`
		Identical   bool  `json:"identical"`
		Lost        int64 `json:"lost_records"`
		Dup         int64 `json:"duplicated_records"`
		WorkerKills int   `json:"worker_kills"`
		DriverKills int   `json:"driver_kills"`
	}
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	if !r.Identical || r.Lost != 0 || r.Dup != 0 || r.Batches != 24 || r.WorkerKills < 1 || r.DriverKills != 1 {
		t.Fatalf("seed %d: %s\nstderr:\n%s", seed, p.stdout.String(), p.errors())
	}
}

// The chaos command over Kafka: the job reads a topic of an in-process
// Kafka cluster (in the chaos process, which the kills spare) by time and
// writes its outputs to Kafka topics through the transactional sink;
// what it committed, read back with read_committed, is identical to a
// failure-free run's.
func TestChaosKafkaShort(t *testing.T) { chaosThrough(t, "kafka", "kafka") }

// The chaos command over NATS: the job reads a JetStream stream of an
// embedded nats-server (in the chaos process, which the kills spare),
// filled ahead and planned by the messages' time stamps, and writes its
// outputs through the NATS sink to a stream that drops rewritten
// messages by id; what the stream holds is identical to a failure-free
// run's.
func TestChaosNATSShort(t *testing.T) { chaosThrough(t, "nats", "nats") } // skipped under -short (start builds the binary)

// chaosThrough runs a short chaos test from a source kind to a sink kind
// (10 s of 500 ms batches, a worker killed every 2 s, the driver at 4 s)
// and checks that its outputs are identical to a failure-free run's.
func chaosThrough(t *testing.T, source, sink string) {
	seed := time.Now().UnixNano()%1_000_000 + 1
	t.Logf("seed %d (rerun: go run ./cmd/sluice chaos --source %s --sink %s --seed %d ...)", seed, source, sink, seed)
	p := start(t, "chaos", "--source", source, "--sink", sink, "--workers", "3", "--duration", "10s", "--batch", "500ms",
		"--kill-worker-every", "2s", "--kill-driver-at", "4s", "--rate", "4000", "--seed", strconv.FormatInt(seed, 10), "--json")
	if err := p.wait(t, 4*time.Minute); err != nil {
		t.Fatalf("chaos (seed %d): %v\nstdout: %s\nstderr:\n%s", seed, err, p.stdout.String(), p.errors())
	}
	var r struct {
		Batches     int   `json:"batches"`
		Identical   bool  `json:"identical"`
		Records     int64 `json:"records"`
		WorkerKills int   `json:"worker_kills"`
		DriverKills int   `json:"driver_kills"`
	}
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	if !r.Identical || r.Batches != 20 || r.Records == 0 || r.WorkerKills < 1 || r.DriverKills != 1 {
		t.Fatalf("seed %d: %s\nstderr:\n%s", seed, p.stdout.String(), p.errors())
	}
}

// The recovery benchmark in small: one configuration of a few seconds,
// one worker killed; the figures are the benchmark's, only their presence
// and the kill are checked here.
func TestBenchRecoveryShort(t *testing.T) {
	p := start(t, "bench", "recovery", "--workers", "2", "--keys", "2000", "--checkpoint-every", "1s",
		"--batch", "250ms", "--rate", "4000", "--after", "2s", "--json")
	if err := p.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("bench recovery: %v\nstdout: %s\nstderr:\n%s", err, p.stdout.String(), p.errors())
	}
	var r struct {
		Cores int              `json:"cores"`
		Runs  []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	if r.Cores < 1 || len(r.Runs) != 1 {
		t.Fatalf("want the cores and one run: %s", p.stdout.String())
	}
	run := r.Runs[0]
	for _, k := range []string{"workers", "keys", "checkpoint_every_ms", "batch_ms", "kill_at", "killed", "killed_pid",
		"extra_delay_ms", "recovery_ms", "recovered", "normal_batch_ms", "detection_ms", "lineage_batches", "state_keys", "delays_ms"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run lacks %q: %s", k, p.stdout.String())
		}
	}
	if run["workers"] != 2.0 || run["keys"] != 2000.0 || run["checkpoint_every_ms"] != 1000.0 || run["batch_ms"] != 250.0 {
		t.Errorf("not the configuration asked for: %s", p.stdout.String())
	}
	if run["killed"] != true || run["killed_pid"].(float64) <= 0 {
		t.Errorf("no worker was killed: %s", p.stdout.String())
	}
	// The state is whole before the kill and after it.
	if run["state_keys"] != 2000.0 || run["state_keys_end"] != 2000.0 {
		t.Errorf("the state does not hold every key: %s", p.stdout.String())
	}
}

// The straggler benchmark in small: four short runs on local-cluster[4] (a stage of fewer than 4 tasks never reaches 75% finished with one straggling);
// the figures are the benchmark's, only their presence is checked here,
// and that the straggling runs' slowed worker made a difference the
// counters show (backups launched with speculation on, none with it off).
func TestBenchStragglerShort(t *testing.T) {
	p := start(t, "bench", "straggler", "--workload", "grep", "--workers", "4", "--slowdown", "10", "--batch", "1s",
		"--duration", "10s", "--warmup", "1", "--rate", "100000", "--json")
	if err := p.wait(t, 3*time.Minute); err != nil {
		t.Fatalf("bench straggler: %v\nstdout: %s\nstderr:\n%s", err, p.stdout.String(), p.errors())
	}
	var r map[string]any
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	for _, k := range []string{"baseline_ms_p50", "straggler_off_ms_p50", "straggler_on_ms_p50", "off_ratio", "on_ratio"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("%q is %v: %s", k, r[k], p.stdout.String())
		}
	}
	runs, _ := r["runs"].([]any)
	if len(runs) != 4 {
		t.Fatalf("want 4 runs: %s", p.stdout.String())
	}
	launched := func(i int) float64 { return runs[i].(map[string]any)["speculative_launched"].(float64) }
	// The baseline runs with speculation on too: a task slowed by the
	// machine may get a backup there, so only the other two are checked.
	if launched(1) != 0 || launched(2) == 0 {
		t.Errorf("speculative copies launched per run: %v, %v, %v; want any, 0, > 0", launched(0), launched(1), launched(2))
	}
}

// The latency benchmark in small: one batch interval, a short rate search
// without bisection; only the figures' presence and coherence are checked.
func TestBenchLatencyShort(t *testing.T) {
	p := start(t, "bench", "latency", "--workload", "grep", "--master", "local[2]", "--batches", "200ms",
		"--probe", "1s", "--measure", "1s", "--steps", "0", "--start-rate", "20000", "--json")
	if err := p.wait(t, 3*time.Minute); err != nil {
		t.Fatalf("bench latency: %v\nstdout: %s\nstderr:\n%s", err, p.stdout.String(), p.errors())
	}
	var r struct {
		Intervals []struct {
			BatchMS       int64   `json:"batch_ms"`
			MaxRate       int     `json:"max_rate"`
			Rate          int     `json:"rate"`
			EndToEndMsP50 float64 `json:"end_to_end_ms_p50"`
			EndToEndMsP99 float64 `json:"end_to_end_ms_p99"`
			Probes        []any   `json:"probes"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, p.stdout.String())
	}
	if len(r.Intervals) != 1 {
		t.Fatalf("want one interval: %s", p.stdout.String())
	}
	li := r.Intervals[0]
	// A record waits at least for its batch to end: p99 is most of an interval.
	if li.BatchMS != 200 || li.MaxRate < 20000 || li.Rate != li.MaxRate/2 || len(li.Probes) < 2 ||
		li.EndToEndMsP50 <= 0 || li.EndToEndMsP99 < li.EndToEndMsP50 || li.EndToEndMsP99 < 198 {
		t.Errorf("incoherent figures: %s", p.stdout.String())
	}
}
