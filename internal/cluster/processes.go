package cluster

import (
	"bufio"
	"bytes"
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
}

// Processes supervises local-cluster workers: it starts them, reports the
// first one that exits unexpectedly, and stops them all on Stop.
//
// Orphans: each worker gets SIGKILL from the kernel when the driver
// process dies (Pdeathsig on Linux), and exits by itself when its session
// with the driver breaks, so a killed driver leaves no workers behind.
//
// Goroutines: per worker, one that waits for it and one that copies its
// standard error; Stop waits for all of them.
type Processes struct {
	cmds   []*exec.Cmd
	wg     sync.WaitGroup
	exited chan error
	mu     sync.Mutex
	done   []bool
	stop   bool
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
	p := &Processes{exited: make(chan error, cfg.N), done: make([]bool, cfg.N)}
	for i := 0; i < cfg.N; i++ {
		cmd := exec.Command(cfg.Path, cfg.Args...)
		cmd.Env = append(append(os.Environ(), cfg.Env...), envFor(cfg, i)...)
		cmd.Stdout = nil // discarded
		setDeathSignal(cmd)
		stderr, err := cmd.StderrPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			p.Stop(0)
			return nil, fmt.Errorf("cluster: starting worker %d (%s): %w", i, cfg.Path, err)
		}
		p.cmds = append(p.cmds, cmd)
		tail := &tailBuffer{max: 4096}
		copied := make(chan struct{})
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer close(copied)
			prefixLines(cfg.Stderr, io.TeeReader(stderr, tail), fmt.Sprintf("[worker %d] ", i))
		}()
		go func() {
			defer p.wg.Done()
			<-copied // Wait closes the pipe: read it all first
			err := cmd.Wait()
			p.mu.Lock()
			p.done[i] = true
			expected := p.stop
			p.mu.Unlock()
			if !expected {
				p.exited <- fmt.Errorf("cluster: worker process %d (pid %d) exited: %v; its last output: %s", i, cmd.Process.Pid, errOr(err), tail.String())
			}
		}()
	}
	return p, nil
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

// Exited delivers an error for every worker that exits before Stop.
func (p *Processes) Exited() <-chan error { return p.exited }

// PIDs returns the workers' process IDs.
func (p *Processes) PIDs() []int {
	out := make([]int, len(p.cmds))
	for i, c := range p.cmds {
		out[i] = c.Process.Pid
	}
	return out
}

// Kill sends SIGKILL to worker i (fault tests).
func (p *Processes) Kill(i int) error {
	if i < 0 || i >= len(p.cmds) {
		return fmt.Errorf("cluster: no worker process %d", i)
	}
	return p.cmds[i].Process.Signal(syscall.SIGKILL)
}

// Stop waits up to grace for the workers to exit (the driver told them
// to), then kills the rest, and waits for all of them.
func (p *Processes) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stop = true
	p.mu.Unlock()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && !p.allDone() {
		time.Sleep(10 * time.Millisecond)
	}
	for i, c := range p.cmds {
		p.mu.Lock()
		done := p.done[i]
		p.mu.Unlock()
		if !done {
			_ = c.Process.Signal(syscall.SIGKILL)
		}
	}
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

// prefixLines copies r to w line by line, each line prefixed.
func prefixLines(w io.Writer, r io.Reader, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
	_, _ = io.Copy(io.Discard, r) // a line over the limit: drain the rest
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
