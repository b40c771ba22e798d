package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ProcessConfig configures the worker processes of local-cluster mode.
type ProcessConfig struct {
	// N is the number of workers.
	N int
	// Path is the executable (default: this one) and Args its arguments.
	Path string
	Args []string
	// Env is added to this process's environment for every worker;
	// EnvFor adds per-worker variables.
	Env    []string
	EnvFor func(i int) []string
	// Stderr receives the workers' standard error, each line prefixed
	// with the worker's index (default os.Stderr). Their standard output
	// is discarded: the driver prints the job's results.
	Stderr io.Writer
	// Respawn starts a new worker (with the next index) in place of one
	// that exits before Stop, after RespawnDelay, as a cluster manager
	// would; a worker that exits within a few seconds of starting several
	// times in a row is not replaced again (a crash loop). A worker that
	// exits with status 0 left on purpose (the driver drained it and told
	// it to stop): it is reported (IsCleanExit) but not replaced; nor is
	// a worker retired by Retire.
	Respawn      bool
	RespawnDelay time.Duration
}

// maxQuickExits is how many workers in a row may exit soon after they
// started before Respawn gives up; quickExit is "soon".
const (
	maxQuickExits = 3
	quickExit     = 3 * time.Second
)

// Processes supervises local-cluster workers: it starts them, reports
// every one that exits unexpectedly (replacing it if told to), and stops
// them all on Stop.
//
// Orphans: each worker gets SIGKILL from the kernel when the driver
// process dies (Pdeathsig on Linux), and exits by itself when its session
// with the driver breaks, so a killed driver leaves no workers behind.
//
// Goroutines: per worker, one that waits for it (and os/exec's copier of
// its standard error), which also starts its replacement; Stop waits for
// all of them.
type Processes struct {
	cfg    ProcessConfig
	wg     sync.WaitGroup
	exited chan error
	mu     sync.Mutex
	cmds   []*exec.Cmd
	done   []bool
	// retiring marks workers that are leaving on purpose (Retire): their
	// exit, whatever its status, is not replaced.
	retiring []bool
	stop     bool
	quick    int // workers in a row that exited soon after starting
	// respawning counts replacements waiting for RespawnDelay: Size
	// counts them, so that scaling up does not add to them.
	respawning int
}

// StartProcesses starts cfg.N worker processes.
func StartProcesses(cfg ProcessConfig) (*Processes, error) {
	if cfg.Path == "" {
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cluster: finding the executable to start workers: %w", err)
		}
		cfg.Path = p
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	p := &Processes{cfg: cfg, exited: make(chan error, cfg.N)}
	for i := 0; i < cfg.N; i++ {
		if err := p.start(); err != nil {
			p.Stop(0)
			return nil, err
		}
	}
	return p, nil
}

// start starts the next worker.
func (p *Processes) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop {
		return nil
	}
	i := len(p.cmds)
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append(append(os.Environ(), p.cfg.Env...), envFor(p.cfg, i)...)
	cmd.Stdout = nil                              // discarded
	if os.Getenv("SLUICE_WORKER_STDOUT") == "1" { // debugging: show it on stderr
		cmd.Stdout = p.cfg.Stderr
	}
	setDeathSignal(cmd)
	tail := &tailBuffer{max: 4096}
	lines := &prefixWriter{w: p.cfg.Stderr, prefix: fmt.Sprintf("[worker %d] ", i)}
	cmd.Stderr = io.MultiWriter(lines, tail)
	// A grandchild holding stderr open must not keep Wait (and Stop)
	// waiting once the worker itself is gone.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cluster: starting worker %d (%s): %w", i, p.cfg.Path, err)
	}
	started := time.Now()
	p.cmds = append(p.cmds, cmd)
	p.done = append(p.done, false)
	p.retiring = append(p.retiring, false)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := cmd.Wait()
		lines.Flush()
		p.mu.Lock()
		p.done[i] = true
		expected := p.stop
		left := err == nil || p.retiring[i] // drained, or retired
		if time.Since(started) < quickExit && !left {
			p.quick++
		} else {
			p.quick = 0
		}
		respawn := p.cfg.Respawn && !expected && !left && p.quick < maxQuickExits
		if respawn {
			p.respawning++
		}
		p.mu.Unlock()
		if expected {
			return
		}
		p.exited <- &exitError{clean: err == nil,
			msg: fmt.Sprintf("cluster: worker process %d (pid %d) exited: %v; its last output: %s", i, cmd.Process.Pid, errOr(err), tail.String())}
		if respawn {
			time.Sleep(p.cfg.RespawnDelay)
			err := p.start()
			p.mu.Lock()
			p.respawning--
			p.mu.Unlock()
			if err != nil {
				p.exited <- err
			}
		}
	}()
	return nil
}

// exitError reports a worker process's exit.
type exitError struct {
	msg   string
	clean bool // status 0: the worker left on purpose (drained)
}

func (e *exitError) Error() string { return e.msg }

// IsCleanExit says whether err, from Exited, reports a worker that exited
// with status 0: one the driver drained and released, not a failure.
func IsCleanExit(err error) bool {
	var e *exitError
	return errors.As(err, &e) && e.clean
}

func envFor(cfg ProcessConfig, i int) []string {
	if cfg.EnvFor == nil {
		return nil
	}
	return cfg.EnvFor(i)
}

func errOr(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Start starts one more worker, with the next index (scaling up).
func (p *Processes) Start() error { return p.start() }

// Live returns the indexes of the workers running that are not retiring.
func (p *Processes) Live() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for i := range p.cmds {
		if !p.done[i] && !p.retiring[i] {
			out = append(out, i)
		}
	}
	return out
}

// Size is the number of workers running that are not retiring, plus the
// replacements about to start.
func (p *Processes) Size() int {
	n := len(p.Live())
	p.mu.Lock()
	defer p.mu.Unlock()
	return n + p.respawning
}

// Retire marks worker i as leaving on purpose (scaling down: the driver
// drains it): its exit is not replaced nor reported.
func (p *Processes) Retire(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.retiring) {
		p.retiring[i] = true
	}
}

// Signal sends sig to worker i, if it still runs (SIGTERM: it asks the
// driver to drain it, then exits 0).
func (p *Processes) Signal(i int, sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.cmds) {
		return fmt.Errorf("cluster: no worker process %d", i)
	}
	if p.done[i] {
		return fmt.Errorf("cluster: worker process %d has exited", i)
	}
	return p.cmds[i].Process.Signal(sig)
}

// Exited delivers an error for every worker that exits before Stop (and
// for a replacement that could not start).
func (p *Processes) Exited() <-chan error { return p.exited }

// PIDs returns the process IDs of the workers started so far (alive or
// not), by index.
func (p *Processes) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, len(p.cmds))
	for i, c := range p.cmds {
		out[i] = c.Process.Pid
	}
	return out
}

// Kill sends SIGKILL to worker i (fault tests).
func (p *Processes) Kill(i int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.cmds) {
		return fmt.Errorf("cluster: no worker process %d", i)
	}
	return p.cmds[i].Process.Signal(syscall.SIGKILL)
}

// Stopping says the workers are about to be told to stop: their exits are
// expected from now on.
func (p *Processes) Stopping() {
	p.mu.Lock()
	p.stop = true
	p.mu.Unlock()
}

// Stop waits up to grace for the workers to exit (the driver told them
// to), then kills the rest, and waits for all of them.
func (p *Processes) Stop(grace time.Duration) {
	p.Stopping()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && !p.allDone() {
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	for i, c := range p.cmds {
		if !p.done[i] {
			_ = c.Process.Signal(syscall.SIGKILL)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Processes) allDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.done {
		if !d {
			return false
		}
	}
	return true
}

// prefixWriter writes each line to w with a prefix. A line longer than
// maxLine is cut into several.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	line   []byte
}

const maxLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		room := maxLine - len(p.line)
		i := bytes.IndexByte(b, '\n')
		switch {
		case i >= 0 && i <= room:
			p.line = append(p.line, b[:i]...)
			p.flush()
			b = b[i+1:]
		case len(b) < room:
			p.line = append(p.line, b...)
			b = nil
		default: // the line reaches maxLine: cut it
			p.line = append(p.line, b[:room]...)
			p.flush()
			b = b[room:]
		}
	}
	return n, nil
}

// Flush writes a last line that had no newline.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.line) > 0 {
		p.flush()
	}
}

func (p *prefixWriter) flush() {
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.line)
	p.line = p.line[:0]
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.b)
	if len(s) == 0 {
		return "(none)"
	}
	return string(s)
}
