package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

const clearLine = "\r\x1b[K"

// terminal is a pseudo-terminal: the command writes to tty, and what the
// terminal shows collects in a buffer read from the other side.
type terminal struct {
	tty   *os.File
	mu    sync.Mutex
	shown bytes.Buffer
	done  chan struct{}
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 50, Cols: 250}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{tty: tty, done: make(chan struct{})}
	go func() { // ends when every tty descriptor is closed (EIO)
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.shown.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		<-term.done
		ptmx.Close()
	})
	return term
}

// closeAndRead closes the command's side and returns all the terminal
// showed (the line ends as the terminal sends them: \r\n).
func (term *terminal) closeAndRead() string {
	term.tty.Close()
	<-term.done
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.shown.String()
}

// visibleLines are the lines the terminal shows: each line's text after
// its last carriage return (a status line cleared and overwritten).
func visibleLines(shown string) []string {
	var out []string
	for _, l := range strings.Split(shown, "\r\n") {
		l = l[strings.LastIndex(l, "\r")+1:]
		out = append(out, strings.TrimPrefix(l, "\x1b[K"))
	}
	return out
}

// The demo on a terminal: the status line on standard error (the same
// terminal) is redrawn as batches complete, and never shares a line with
// the results printed on standard output.
func TestDemoStatusOnATerminal(t *testing.T) {
	term := newTerminal(t)
	code := run([]string{"demo", "--duration", "2s", "--batch", "200ms", "--master", "local[2]", "--rate", "5000"}, term.tty, term.tty)
	shown := term.closeAndRead()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, shown)
	}
	if !strings.Contains(shown, clearLine+"demo · batch ") || !strings.Contains(shown, "/10 · ") || !strings.Contains(shown, " rec/s · delay ") {
		t.Errorf("no status line:\n%q", shown)
	}
	lines := visibleLines(shown)
	if !webUIRE.MatchString(lines[0]) {
		t.Errorf("the first line is %q, want the web UI's address", lines[0])
	}
	tables := 0
	for _, l := range lines {
		if strings.Contains(l, "demo · batch") {
			t.Errorf("a status line left on the screen: %q", l)
		}
		if strings.HasPrefix(l, "── batch") {
			tables++
		}
	}
	if tables != 10 {
		t.Errorf("%d batch tables shown, want 10:\n%s", tables, strings.Join(lines, "\n"))
	}
}

// A benchmark with --json and standard error on a terminal: the status
// is there, and standard output is still one JSON object.
func TestBenchJSONWithAStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-second benchmark")
	}
	term := newTerminal(t)
	var out bytes.Buffer
	code := run([]string{"bench", "grep", "--master", "local[2]", "--duration", "3s", "--batch", "500ms",
		"--rate", "20000", "--warmup", "1", "--json", "--baseline=false"}, &out, term.tty)
	shown := term.closeAndRead()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, shown)
	}
	if !strings.Contains(shown, clearLine+"bench grep · batch ") {
		t.Errorf("no status line:\n%q", shown)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r["workload"] != "grep" {
		t.Errorf("stdout is not the one JSON object: %v\n%s", err, out.String())
	}
}

// The latency benchmark runs its workload as processes of their own:
// their batches reach the status through --progress-fd.
func TestBenchLatencyStatusOnATerminal(t *testing.T) {
	bin := sluiceBinary(t)
	term := newTerminal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "latency", "--workload", "grep", "--master", "local[2]", "--batches", "200ms",
		"--probe", "1s", "--measure", "1s", "--steps", "0", "--start-rate", "20000", "--json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Dir = &out, term.tty, t.TempDir()
	err := cmd.Run()
	shown := term.closeAndRead()
	if err != nil {
		t.Fatalf("bench latency: %v\n%s", err, shown)
	}
	// 1 s after a warm-up of 5 batches of 200 ms: 10 batches a run.
	if !strings.Contains(shown, clearLine+"latency 200ms, probe 20000/s · batch ") ||
		!strings.Contains(shown, "/10 · ") {
		t.Errorf("no status line with the runs' batches:\n%q", shown)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Errorf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
}
