package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/progress"
)

// commandStatus is a long command's live status line on standard error
// (see package progress), drawn only when standard error is a terminal.
// What the command prints goes through stdout and stderr, so that it never
// shares a line with the status.
type commandStatus struct {
	*progress.Status
	stdout, stderr io.Writer
	restoreLog     func()
}

// startStatus starts a command's status line on stderr. When it is drawn,
// stdout (if it is a terminal too: most likely the same one) and the
// process's log output (the default slog handler writes through package
// log) go above it until close.
func startStatus(stdout, stderr io.Writer) *commandStatus {
	st := progress.New(stderr, progress.Options{})
	cs := &commandStatus{Status: st, stdout: stdout, stderr: st.Writer(stderr)}
	if st.Drawing() {
		if isTerminal(stdout) {
			cs.stdout = st.Writer(stdout)
		}
		prev := log.Writer()
		log.SetOutput(st.Writer(prev))
		cs.restoreLog = func() { log.SetOutput(prev) }
	}
	return cs
}

// close clears the status and restores the log output.
func (cs *commandStatus) close() {
	cs.Status.Close()
	if cs.restoreLog != nil {
		cs.restoreLog()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// batchOf is what the status shows of a batch.
func batchOf(b sluice.BatchInfo) progress.Batch {
	return progress.Batch{Time: b.Time, Records: b.Records, SchedulingDelay: b.SchedulingDelay,
		ProcessingTime: b.ProcessingTime, TotalDelay: b.TotalDelay, Failed: b.Err != nil}
}

// The straggler and latency benchmarks run `sluice bench WORKLOAD --json`
// as processes of their own (benchProcess); to show their batches, they
// pass them a pipe as file descriptor progressFD (--progress-fd), on which
// the run writes one JSON progress.Batch per line.
const progressFD = 3

// batchWriter returns the function that writes each batch to file
// descriptor fd (--progress-fd) as a line of JSON. The descriptor is
// closed on exec, so that the run's worker processes do not hold the
// pipe open; close releases it.
func batchWriter(fd int) (write func(sluice.BatchInfo), close func(), err error) {
	var stat syscall.Stat_t
	if err := syscall.Fstat(fd, &stat); err != nil {
		return nil, nil, fmt.Errorf("--progress-fd %d: %w", fd, err)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "progress")
	enc := json.NewEncoder(f)
	var mu sync.Mutex
	write = func(b sluice.BatchInfo) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(batchOf(b)) // the parent may be gone: the run goes on
	}
	return write, func() { f.Close() }, nil
}

// followBatches gives cmd, about to start, the pipe of --progress-fd and
// shows the batches it reports on st. It returns a function to call once
// cmd ended: it waits for the goroutine that reads the pipe. When st is
// not drawn, it does nothing.
func followBatches(cmd *exec.Cmd, st *commandStatus) (started, ended func(), err error) {
	if !st.Drawing() {
		return func() {}, func() {}, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.ExtraFiles = []*os.File{w} // descriptor 3 = progressFD
	cmd.Args = append(cmd.Args, "--progress-fd", fmt.Sprint(progressFD))
	done := make(chan struct{})
	go func() {
		defer close(done)
		dec := json.NewDecoder(r)
		for {
			var b progress.Batch
			if dec.Decode(&b) != nil {
				return
			}
			st.Observe(b)
		}
	}()
	started = func() { w.Close() } // the child has its copy
	ended = func() {
		w.Close()
		r.Close() // a descendant could still hold the pipe: stop reading anyway
		<-done
	}
	return started, ended, nil
}
