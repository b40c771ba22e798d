package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/sluicetest"
)

// The failure-point tests kill real worker processes of a local-cluster at
// precise points of a stateful job that checkpoints (resumeJob: running
// totals, an incremental window, a plain window and MapWithState), with
// the testing aid of internal/cluster: the worker named in SLUICE_TEST_DIE
// sends itself SIGKILL the N-th time it reaches the point. Each test
// checks that the kill happened there (the process died of SIGKILL after
// saying where, and local-cluster put a new process in its place) and that
// every output of every batch equals that of a failure-free local run,
// record for record.

// failBatches is how many batches each run lasts.
const failBatches = 12

// failDirEnv passes the checkpoint directory to the worker processes,
// which run the same test and must write state to the same store.
const failDirEnv = "SLUICE_FAILPOINT_TEST_DIR"

// TestKilledWhileRunningMapTask kills worker-1 while it runs its 20th
// shuffle-map task (in the fourth batch or so, after the first state
// checkpoints): the map outputs it wrote before are lost with it, and its
// tasks and cached state partitions are recomputed on the others.
func TestKilledWhileRunningMapTask(t *testing.T) {
	runKilled(t, cluster.PointMap+":20@worker-1", "worker-1")
}

// TestKilledWhileServingFetch kills worker-1 while it serves its 30th
// shuffle fetch (in the sixth batch or so): the reducer reading from it
// fails to fetch, and the map outputs it held are recomputed on the others.
func TestKilledWhileServingFetch(t *testing.T) {
	runKilled(t, cluster.PointFetch+":30@worker-1", "worker-1")
}

// TestKilledWhileWritingCheckpoint kills worker-1 while it writes its 3rd
// state checkpoint partition (in the fifth batch or so): another worker
// writes the partition, from its copy of the state or by recomputing it,
// and the checkpoint commits; later batches read it.
func TestKilledWhileWritingCheckpoint(t *testing.T) {
	runKilled(t, cluster.PointCheckpoint+":3@worker-1", "worker-1")
}

// TestTwoWorkersKilledAtOnce kills worker-0 and worker-1 while they write
// their 3rd state checkpoint partitions, which are those of the same
// checkpoint job, written at the same time (map counts would drift apart
// between workers): one worker of three is left until the replacements
// join, and the lost work is recomputed.
func TestTwoWorkersKilledAtOnce(t *testing.T) {
	runKilled(t, cluster.PointCheckpoint+":3@worker-0,"+cluster.PointCheckpoint+":3@worker-1", "worker-0", "worker-1")
}

// runKilled runs resumeJob on local-cluster[3] with SLUICE_TEST_DIE=die,
// checks that exactly the victims were killed, as die said, and compares
// the outputs with a failure-free run.
func runKilled(t *testing.T, die string, victims ...string) {
	dir := os.Getenv(failDirEnv)
	if dir == "" {
		dir = t.TempDir()
		t.Setenv(failDirEnv, dir)
	}
	t.Setenv(cluster.DieEnv, die) // inherited by the worker processes
	var want *resumeJob
	if !sluice.IsWorker() { // a worker process serves the cluster below, and exits there
		want = failureFreeRun(t)
	}
	logs := &exitLog{next: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})}
	got := &resumeJob{}
	c, clock, infos := newResumeContext(t, dir, got, sluice.Master("local-cluster[3]"), sluice.Parallelism(3),
		sluice.WorkerArgs("-test.run=^"+regexp.QuoteMeta(t.Name())+"$"), sluice.WorkerKey(t.Name()), sluice.Logger(slog.New(logs)))
	t.Cleanup(func() { _ = c.Stop() }) // if the test fails before it stops the job
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// No batch has run yet (the clock has not moved): these are the
	// processes the victims run in.
	pids := make(map[string]int)
	for _, w := range c.Status().Workers {
		pids[w.Name] = w.PID
	}
	done := runBatches(t, clock, infos, failBatches)
	t.Logf("ran %d batches in %v", failBatches, time.Since(start))
	checkKilled(t, c, logs, pids, done, die, victims)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	compareOutputs(t, want, got)
}

// runBatches moves the clock to batch until and waits for it to complete;
// it returns when each batch completed.
func runBatches(t *testing.T, clock *sluicetest.ManualClock, infos chan sluice.BatchInfo, until int) (done []time.Time) {
	t.Helper()
	last := sluicetest.Epoch.Add(time.Duration(until) * time.Second)
	clock.Set(last)
	for {
		select {
		case b := <-infos:
			if b.Err != nil {
				t.Fatalf("batch %v: %v", b.Time.UnixMilli(), b.Err)
			}
			done = append(done, time.Now())
			if !b.Time.Before(last) {
				return done
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no batch for 60s (waiting for %v)", last.UnixMilli())
		}
	}
}

// checkKilled checks that each victim's process died of SIGKILL at the
// point die names (local-cluster logs a worker's exit with its last
// output), that no other worker died, and that replacements took the
// victims' places. done says when each batch completed.
func checkKilled(t *testing.T, c *sluice.Context, logs *exitLog, pids map[string]int, done []time.Time, die string, victims []string) {
	t.Helper()
	exits := logs.exits()
	if len(exits) != len(victims) {
		t.Fatalf("%d worker processes exited, want %d (%v, %s): %v", len(exits), len(victims), victims, die, exits)
	}
	for _, v := range victims {
		pid := pids[v]
		if pid == 0 {
			t.Fatalf("no worker %s at the start (workers %v)", v, pids)
		}
		said := regexp.MustCompile(regexp.QuoteMeta(cluster.DieEnv+": "+v+" dies at ") + `(\w+) (\d+)`)
		var exit *exitRecord
		for i, e := range exits {
			if strings.Contains(e.err, fmt.Sprintf("(pid %d)", pid)) {
				exit = &exits[i]
			}
		}
		if exit == nil {
			t.Errorf("%s (pid %d) did not exit; exits: %v", v, pid, exits)
			continue
		}
		m := said.FindStringSubmatch(exit.err)
		switch {
		case !strings.Contains(exit.err, "signal: killed"):
			t.Errorf("%s (pid %d) did not die of SIGKILL: %s", v, pid, exit.err)
		case m == nil || !strings.Contains(die, m[1]+":"+m[2]+"@"+v):
			t.Errorf("%s (pid %d) was not killed where %s says: %s", v, pid, die, exit.err)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s's process %d is still there (kill -0: %v)", v, pid, err)
		}
		batch, _ := slices.BinarySearchFunc(done, exit.at, time.Time.Compare)
		t.Logf("%s (pid %d) killed during batch %d of %d (as the driver saw its exit)", v, pid, batch+1, len(done))
	}
	if len(exits) > 1 {
		t.Logf("the exits were seen %v apart", exits[len(exits)-1].at.Sub(exits[0].at))
	}
	// Replacements join under new names, with new processes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws := c.Status().Workers
		var names []string
		fresh := 0
		for _, w := range ws {
			names = append(names, w.Name)
			if pids[w.Name] == 0 && w.PID > 0 && !slices.Contains(slices.Collect(maps.Values(pids)), w.PID) {
				fresh++
			}
		}
		if len(ws) == 3 && fresh == len(victims) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %v, want %d replacements of %v", names, len(victims), victims)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failureFreeRun is the reference: resumeJob on local[3] with the same
// partitioning and its own checkpoint directory, run once per process.
var failureFree = struct {
	once sync.Once
	job  *resumeJob
}{}

func failureFreeRun(t *testing.T) *resumeJob {
	t.Helper()
	failureFree.once.Do(func() {
		j := &resumeJob{}
		c, clock, infos := newResumeContext(t, t.TempDir(), j, sluice.Master("local[3]"), sluice.Parallelism(3))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		runBatches(t, clock, infos, failBatches)
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		// Guard against a comparison with nothing: every output has
		// records in every batch it emits (the window every 2 s).
		for name, n := range map[string]int{"totals": failBatches, "count": failBatches, "seen": failBatches, "window": failBatches / 2} {
			nonEmpty := 0
			for _, recs := range j.out[name] {
				if len(recs) > 0 {
					nonEmpty++
				}
			}
			if nonEmpty != n {
				t.Fatalf("the failure-free run has %d batches of %s with records, want %d", nonEmpty, name, n)
			}
		}
		failureFree.job = j
	})
	if failureFree.job == nil {
		t.Fatal("the failure-free run failed in an earlier test")
	}
	return failureFree.job
}

// exitLog is a slog.Handler that keeps the driver's reports of worker
// processes that exited, and passes every record on to next.
type exitLog struct {
	next slog.Handler
	mu   sync.Mutex
	log  []exitRecord
}

type exitRecord struct {
	at  time.Time
	err string
}

func (e exitRecord) String() string { return e.err }

func (l *exitLog) Enabled(ctx context.Context, lv slog.Level) bool { return l.next.Enabled(ctx, lv) }
func (l *exitLog) WithAttrs([]slog.Attr) slog.Handler              { return l } // the engine uses neither
func (l *exitLog) WithGroup(string) slog.Handler                   { return l }

func (l *exitLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "worker process exited" {
		return l.next.Handle(ctx, r)
	}
	rec := exitRecord{at: r.Time}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			rec.err = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, rec)
	return nil
}

func (l *exitLog) exits() []exitRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}
