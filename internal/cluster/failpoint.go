package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/runtime"
)

// DieEnv names a testing aid: a worker process whose environment sets it
// kills itself with SIGKILL at a precise point, so that failure tests can
// break a real process exactly where they mean to (see the package doc).
// Its value is a comma-separated list of POINT:N[@WORKER] rules: the
// worker dies the N-th time (from 1) it reaches POINT; with @WORKER only
// the worker registered under that name does (local-cluster names its
// workers worker-0, worker-1, …, and a replacement gets the next index, so
// it does not die again). Programs never set it.
const DieEnv = "SLUICE_TEST_DIE"

// The points of DieEnv.
const (
	// PointMap is reached when a shuffle-map task has been launched: the
	// worker dies while running it (earlier map tasks may have finished
	// here, so their outputs are lost with it).
	PointMap = "map"
	// PointFetch is reached when the worker is asked for shuffle buckets:
	// it dies while serving the fetch, before answering.
	PointFetch = "fetch"
	// PointCheckpoint is reached when a state checkpoint partition has
	// been encoded, just before it is written to the store (the root
	// package's checkpoint writer reaches it through Worker.FailurePoint).
	PointCheckpoint = "checkpoint"
)

// dieRule is one POINT:N[@WORKER] of DieEnv.
type dieRule struct {
	point  string
	n      int
	worker string // "" for any worker
}

// failpoints are a process's DieEnv rules and how many times each worker
// of the process reached each point.
type failpoints struct {
	rules []dieRule
	// kill ends the process (a test replaces it); it does not return.
	kill func(why string)
	mu   sync.Mutex
	seen map[[2]string]int // (worker, point) -> times reached
}

// maxDieRules bounds the rules of DieEnv.
const maxDieRules = 64

// parseFailpoints parses a DieEnv value ("" has no rules).
func parseFailpoints(s string) (*failpoints, error) {
	f := &failpoints{kill: killSelf, seen: make(map[[2]string]int)}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, r := range strings.Split(s, ",") {
		rule, worker, _ := strings.Cut(strings.TrimSpace(r), "@")
		point, count, ok := strings.Cut(rule, ":")
		n, err := strconv.Atoi(count)
		switch {
		case !ok || err != nil || n < 1:
			return nil, fmt.Errorf("cluster: %s=%q: rule %q is not POINT:N[@WORKER] with N >= 1", DieEnv, s, r)
		case point != PointMap && point != PointFetch && point != PointCheckpoint:
			return nil, fmt.Errorf("cluster: %s=%q: unknown point %q (want %s, %s or %s)", DieEnv, s, point, PointMap, PointFetch, PointCheckpoint)
		case len(f.rules) == maxDieRules:
			return nil, fmt.Errorf("cluster: %s=%q: more than %d rules", DieEnv, s, maxDieRules)
		}
		f.rules = append(f.rules, dieRule{point: point, n: n, worker: worker})
	}
	return f, nil
}

// processFailpoints are this process's, from its environment.
var processFailpoints = sync.OnceValues(func() (*failpoints, error) {
	return parseFailpoints(os.Getenv(DieEnv))
})

// reach counts one more time worker reached point, and kills the process
// if a rule says so.
func (f *failpoints) reach(worker, point string) {
	if len(f.rules) == 0 {
		return
	}
	f.mu.Lock()
	k := [2]string{worker, point}
	f.seen[k]++
	n := f.seen[k]
	f.mu.Unlock()
	for _, r := range f.rules {
		if r.point == point && r.n == n && (r.worker == "" || r.worker == worker) {
			f.kill(fmt.Sprintf("%s dies at %s %d", worker, point, n))
		}
	}
}

// killSelf writes why to standard error (local-cluster shows a dead
// worker's last output), then sends SIGKILL to this process: no deferred
// call, no goodbye to the driver, as when the kernel or an operator kills
// it. It never returns.
func killSelf(why string) {
	fmt.Fprintf(os.Stderr, "cluster: %s: %s\n", DieEnv, why)
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill() // SIGKILL on Unix
	}
	if err != nil {
		panic(fmt.Sprintf("cluster: %s: cannot kill this process: %v", DieEnv, err))
	}
	for { // the signal is on its way
		time.Sleep(time.Hour)
	}
}

// FailurePoint tells the worker it reached point (one of the Point
// constants): a testing aid, see DieEnv. It kills the process there if a
// rule of DieEnv says so, and does nothing otherwise.
func (w *Worker) FailurePoint(point string) {
	f, err := processFailpoints()
	if err != nil { // NewWorker refused it already
		return
	}
	w.mu.Lock()
	name := w.name
	w.mu.Unlock()
	f.reach(name, point)
}

// launched is DieEnv's hook for a task the runtime has just started.
func (w *Worker) launched(d *runtime.TaskDesc) {
	if d.Shuffle != nil {
		w.FailurePoint(PointMap)
	}
}
