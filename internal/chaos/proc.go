package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/progress"
)

// What the job processes share with the harness that breaks them: the job
// side (runJobProcess) logs every completed batch to DIR/batches.jsonl;
// the harness side starts the job's driver process (startDriver), finds
// its worker processes (children), kills them, and reads the batch log
// back to measure recovery (recoveryAfter). `sluice chaos` and `sluice
// bench recovery` both use them.

// batchLog is one line of a job's batch log: when a batch completed.
type batchLog struct {
	Batch int64 `json:"b"`    // batch time, Unix ms
	Done  int64 `json:"done"` // completion, Unix ms
	// Proc is the batch's processing time (ms), without the time it
	// waited for the batches before it.
	Proc float64 `json:"proc,omitempty"`
	// Value is a figure the job reports for the batch (the recovery
	// job: the keys in its state).
	Value int64 `json:"v,omitempty"`
	// Records is the batch's input records.
	Records int64 `json:"n,omitempty"`
}

// runJobProcess runs a job process (on the driver and, with the same
// arguments, on its workers): it resumes from DIR's checkpoint if there is
// one, logs every completed batch (with value(t), if set) and stops
// gracefully once batch number batches (counting from the job's first)
// completed.
func runJobProcess(ctx context.Context, dir string, batches int, opts []sluice.Option, value func(time.Time) int64,
	build func(c *sluice.Context), keep int) error {
	logf, err := os.OpenFile(filepath.Join(dir, "batches.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var last time.Time // the last batch to run
	var c *sluice.Context
	onBatch := sluice.OnBatch(func(b sluice.BatchInfo) {
		if b.Err != nil {
			return
		}
		l := batchLog{Batch: b.Time.UnixMilli(), Done: time.Now().UnixMilli(), Proc: float64(b.ProcessingTime.Microseconds()) / 1000,
			Records: b.Records}
		if value != nil {
			l.Value = value(b.Time)
		}
		line, _ := json.Marshal(l)
		mu.Lock()
		defer mu.Unlock()
		logf.Write(append(line, '\n'))
		if last.IsZero() { // the first batch, or the checkpoint's after a resume
			last = c.FirstBatch().Add(time.Duration(batches-1) * c.BatchInterval())
		}
		if !b.Time.Before(last) {
			cancel()
		}
	})
	c, err = sluice.GetOrCreate(filepath.Join(dir, "checkpoint"), build, append(opts, onBatch)...)
	if err != nil {
		return err
	}
	if keep > 0 && !sluice.IsWorker() {
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			keepWorkers(ctx, c, keep)
		}()
	}
	return sluice.RunUntilDone(ctx, c, 0)
}

// keepWorkers keeps n worker processes until ctx is done: drained workers
// leave for good (local-cluster does not replace them), so it starts new
// ones with ScaleWorkers, as an autoscaler would.
func keepWorkers(ctx context.Context, c *sluice.Context, n int) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if len(c.Workers()) < n {
			_ = c.ScaleWorkers(n) // fails only before Start or after Stop
		}
	}
}

// driverProc is one incarnation of a job's driver process.
type driverProc struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan error
	tail    *tail
}

// startDriver starts a job's driver process: binary with args. Its
// standard error goes to log; watch, if set, sees each of its lines as it
// arrives (the workers' lines too: local-cluster forwards them).
func startDriver(binary string, args []string, log io.Writer, watch func(line string)) (*driverProc, error) {
	cmd := exec.Command(binary, args...)
	cmd.Stdout = io.Discard
	t := &tail{w: log, watch: watch}
	cmd.Stderr = t
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: starting the driver: %w", err)
	}
	d := &driverProc{cmd: cmd, started: time.Now(), done: make(chan error, 1), tail: t}
	go func() { d.done <- cmd.Wait() }()
	return d, nil
}

// kill ends the driver process with SIGKILL and waits for it.
func (d *driverProc) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// tail forwards a process's output and keeps its end for error messages.
type tail struct {
	mu    sync.Mutex
	w     io.Writer
	b     []byte
	watch func(line string)
	line  []byte // the current line, for watch
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.w.Write(p)
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	if t.watch != nil {
		t.watchLines(p)
	}
	return len(p), nil
}

// watchLines gives watch every complete line of p (with what came before
// it); a line is cut at 64 KiB.
func (t *tail) watchLines(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.line = append(t.line, p...)
			if len(t.line) > 64<<10 {
				t.line = t.line[:0]
			}
			return
		}
		t.line = append(t.line, p[:i]...)
		t.watch(string(t.line))
		t.line = t.line[:0]
		p = p[i+1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// children returns the processes whose parent is pid (a local-cluster
// driver's workers), from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	slices.Sort(out)
	return out
}

// killWorker sends SIGKILL to one worker process of the driver process
// parent: the choose(n)-th of its n workers by PID. It returns the PID, or
// 0 if there is no worker.
func killWorker(parent int, choose func(n int) int) (int, error) {
	return signalWorker(parent, choose, syscall.SIGKILL, nil)
}

// signalWorker sends sig to one worker process of the driver process
// parent, not one of skip: the choose(n)-th of the n others by PID. It
// returns the PID, or 0 if there is none.
func signalWorker(parent int, choose func(n int) int, sig syscall.Signal, skip map[int]bool) (int, error) {
	pids := slices.DeleteFunc(children(parent), func(pid int) bool { return skip[pid] })
	if len(pids) == 0 {
		return 0, nil
	}
	pid := pids[choose(len(pids))]
	return pid, syscall.Kill(pid, sig)
}

// readLog reads the job's batch log.
func readLog(dir string) []batchLog {
	f, err := os.Open(filepath.Join(dir, "batches.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []batchLog
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var b batchLog
		if json.Unmarshal(sc.Bytes(), &b) == nil {
			out = append(out, b)
		}
	}
	return out
}

// follower reads a job's batch log as it grows, for a progress status.
type follower struct {
	path string
	f    *os.File
	rest []byte // the start of a line not yet complete
	last int64  // the latest batch read (Unix ms)
	due  time.Time
}

func newFollower(dir string) *follower {
	return &follower{path: filepath.Join(dir, "batches.jsonl")}
}

// show shows on st the batches logged since it last looked, at most ten
// times a second (often enough for a status redrawn four times a second).
func (fl *follower) show(st *progress.Status) {
	if st == nil || time.Now().Before(fl.due) {
		return
	}
	fl.due = time.Now().Add(100 * time.Millisecond)
	for _, b := range fl.next() {
		st.Observe(b)
	}
}

// next returns the batches logged since the last call, each batch once (a
// restarted driver logs again the batches it runs again).
func (fl *follower) next() []progress.Batch {
	if fl.f == nil {
		f, err := os.Open(fl.path)
		if err != nil {
			return nil // not yet written
		}
		fl.f = f
	}
	b, _ := io.ReadAll(fl.f) // what was appended since
	fl.rest = append(fl.rest, b...)
	var out []progress.Batch
	for {
		i := bytes.IndexByte(fl.rest, '\n')
		if i < 0 {
			break
		}
		var l batchLog
		if json.Unmarshal(fl.rest[:i], &l) == nil && l.Batch > fl.last {
			fl.last = l.Batch
			total := time.Duration(l.Done-l.Batch) * time.Millisecond
			proc := time.Duration(l.Proc * float64(time.Millisecond))
			out = append(out, progress.Batch{Time: time.UnixMilli(l.Batch), Records: l.Records,
				SchedulingDelay: max(total-proc, 0), ProcessingTime: proc, TotalDelay: total})
		}
		fl.rest = fl.rest[i+1:]
	}
	return out
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
	}
}

// ranBatchSince reports whether a batch completed after t.
func ranBatchSince(dir string, t time.Time) bool {
	log := readLog(dir)
	return len(log) > 0 && log[len(log)-1].Done > t.UnixMilli()
}

// recoveryAfter is the recovery time after a kill: from the kill until a
// batch scheduled at or after it completed within one batch interval of
// its time (results are on schedule again). It returns that batch too,
// and false if no batch did.
func recoveryAfter(log []batchLog, kill time.Time, batch time.Duration) (time.Duration, batchLog, bool) {
	for _, b := range log {
		if b.Batch >= kill.UnixMilli() && b.Done-b.Batch <= batch.Milliseconds() {
			return time.Duration(b.Done-kill.UnixMilli()) * time.Millisecond, b, true
		}
	}
	return 0, batchLog{}, false
}
