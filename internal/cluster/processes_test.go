package cluster

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for the processes' copiers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startShell(t *testing.T, n int, script string, edit func(*ProcessConfig)) (*Processes, *syncBuffer) {
	t.Helper()
	var out syncBuffer
	cfg := ProcessConfig{N: n, Path: "/bin/sh", Args: []string{"-c", script}, Stderr: &out}
	if edit != nil {
		edit(&cfg)
	}
	p, err := StartProcesses(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, &out
}

// exited waits for the next unexpected exit.
func exited(t *testing.T, p *Processes) error {
	t.Helper()
	select {
	case err := <-p.Exited():
		return err
	case <-testCtx(t).Done():
		t.Fatal("no worker exit reported")
		return nil
	}
}

// stopWithin runs Stop and fails the test if it hangs (a bound against
// hangs, not a timing assertion).
func stopWithin(t *testing.T, p *Processes, grace time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		p.Stop(grace)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
}

func TestProcessExitReported(t *testing.T) {
	p, out := startShell(t, 1, `echo starting >&2; echo "$A-$B" >&2; echo oops >&2; exit 3`, func(cfg *ProcessConfig) {
		cfg.Env = []string{"A=x"}
		cfg.EnvFor = func(i int) []string { return []string{fmt.Sprintf("B=%d", i)} }
	})
	err := exited(t, p)
	for _, want := range []string{"worker process 0", "exit status 3", "oops", "starting\nx-0\noops"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("exit error %v, want it to contain %q", err, want)
		}
	}
	stopWithin(t, p, 0)
	if got, want := out.String(), "[worker 0] starting\n[worker 0] x-0\n[worker 0] oops\n"; got != want {
		t.Errorf("stderr copy %q, want %q", got, want)
	}
	if pids := p.PIDs(); len(pids) != 1 || pids[0] <= 0 {
		t.Errorf("PIDs() = %v", pids)
	}
}

func TestProcessCleanExitReported(t *testing.T) {
	p, _ := startShell(t, 1, "exit 0", nil)
	if err := exited(t, p); err == nil || !strings.Contains(err.Error(), "exited: exit status 0; its last output: (none)") || !IsCleanExit(err) {
		t.Errorf("exit error %v", err)
	}
	stopWithin(t, p, 0)
}

// A worker that exits with status 0 (drained) or that was retired is not
// replaced, even with Respawn; Start adds one; Live lists those running.
func TestProcessDrainedNotRespawned(t *testing.T) {
	p, _ := startShell(t, 2, `if [ "$W" = 0 ]; then exit 0; fi; exec sleep 60`, func(c *ProcessConfig) {
		c.Respawn = true
		c.EnvFor = func(i int) []string { return []string{fmt.Sprintf("W=%d", i)} }
	})
	defer stopWithin(t, p, 0)
	if err := exited(t, p); !IsCleanExit(err) {
		t.Fatalf("exit %v, want a clean exit", err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "workers 1 and 2 run", func() bool { return fmt.Sprint(p.Live()) == "[1 2]" })
	p.Retire(2)
	if err := p.Signal(2, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := exited(t, p); err == nil || IsCleanExit(err) {
		t.Fatalf("exit %v, want a killed worker's", err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := fmt.Sprint(p.Live(), len(p.PIDs())); got != "[1] 3" {
		t.Fatalf("live and started %s, want [1] 3: nothing respawned", got)
	}
}

// Stop kills the workers that do not exit in the grace period, and their
// exits are expected: none is reported.
func TestProcessStopKills(t *testing.T) {
	p, _ := startShell(t, 2, "exec sleep 60", nil)
	stopWithin(t, p, 20*time.Millisecond)
	select {
	case err := <-p.Exited():
		t.Fatalf("Exited delivered %v after Stop", err)
	default:
	}
}

func TestProcessKill(t *testing.T) {
	p, _ := startShell(t, 2, "exec sleep 60", nil)
	defer stopWithin(t, p, 0)
	for _, i := range []int{-1, 2} {
		if err := p.Kill(i); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no worker process %d", i)) {
			t.Errorf("Kill(%d) = %v", i, err)
		}
	}
	if err := p.Kill(1); err != nil {
		t.Fatal(err)
	}
	err := exited(t, p)
	if err == nil || !strings.Contains(err.Error(), "worker process 1") || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("exit error %v, want worker 1 killed", err)
	}
}

func TestProcessStartFails(t *testing.T) {
	_, err := StartProcesses(ProcessConfig{N: 2, Path: "/nonexistent/sluice-worker", Stderr: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "starting worker 0 (/nonexistent/sluice-worker)") {
		t.Fatalf("StartProcesses = %v", err)
	}
}

func TestPrefixWriter(t *testing.T) {
	var out strings.Builder
	w := &prefixWriter{w: &out, prefix: "[w] "}
	for _, chunk := range []string{"a\n\nb", " c\nla", "st"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if got, want := out.String(), "[w] a\n[w] \n[w] b c\n[w] last\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A line over maxLine is cut, not held without bound.
	out.Reset()
	_, _ = w.Write([]byte(strings.Repeat("x", maxLine+10) + "\nafter\n"))
	if got := strings.Count(out.String(), "[w] "); got != 3 {
		t.Fatalf("got %d lines, want the long line cut in two and the next one", got)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	if s := tb.String(); s != "(none)" {
		t.Fatalf("empty tail %q", s)
	}
	if n, err := tb.Write([]byte("  \n")); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if s := tb.String(); s != "(none)" {
		t.Fatalf("blank tail %q", s)
	}
	tb.Write([]byte("hello "))
	tb.Write([]byte("world\n"))
	if s := tb.String(); s != "o world" {
		t.Fatalf("tail %q, want the last 8 bytes trimmed", s)
	}
	tb.Write([]byte(strings.Repeat("z", 100)))
	if s := tb.String(); s != "zzzzzzzz" {
		t.Fatalf("tail %q after a long write", s)
	}
}

// A killed worker is replaced by a new one with the next index; workers
// that keep exiting right after they start are not replaced for ever.
func TestProcessRespawn(t *testing.T) {
	p, out := startShell(t, 1, `echo "up $SLUICE_TEST_INDEX" >&2; exec sleep 60`, func(c *ProcessConfig) {
		c.Respawn = true
		c.EnvFor = func(i int) []string { return []string{fmt.Sprintf("SLUICE_TEST_INDEX=%d", i)} }
	})
	defer stopWithin(t, p, 0)
	if err := p.Kill(0); err != nil {
		t.Fatal(err)
	}
	if err := exited(t, p); !strings.Contains(err.Error(), "worker process 0") {
		t.Fatalf("exit %v, want worker 0's", err)
	}
	for !strings.Contains(out.String(), "[worker 1] up 1") {
		select {
		case <-testCtx(t).Done():
			t.Fatalf("no replacement started; output:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := len(p.PIDs()); n != 2 {
		t.Fatalf("%d processes started, want 2", n)
	}

	loop, _ := startShell(t, 1, "exit 3", func(c *ProcessConfig) { c.Respawn = true })
	defer stopWithin(t, loop, 0)
	for i := 0; i < maxQuickExits; i++ {
		exited(t, loop)
	}
	time.Sleep(200 * time.Millisecond) // a further replacement would have started by now
	if n := len(loop.PIDs()); n != maxQuickExits {
		t.Fatalf("%d processes started for a worker that exits at once, want %d", n, maxQuickExits)
	}
}
