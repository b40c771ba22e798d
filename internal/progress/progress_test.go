package progress_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/progress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const clearLine = "\r\x1b[K"

// terminal is a pseudo-terminal: tty is the side a program writes to,
// and what it shows collects in a buffer read from the other side.
type terminal struct {
	tty   *os.File
	mu    sync.Mutex
	cond  *sync.Cond
	shown bytes.Buffer
	done  chan struct{}
}

func newTerminal(t *testing.T, cols uint16) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 24, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{tty: tty, done: make(chan struct{})}
	term.cond = sync.NewCond(&term.mu)
	go func() { // ends when the tty side closes (the read fails with EIO)
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.shown.Write(buf[:n])
			term.cond.Broadcast()
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

// waitFor waits until what the terminal shows from offset from on holds
// want, and returns the offset just past it. It fails the test if want
// does not come within a generous time (a hang, not a measure of speed).
func (term *terminal) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	timer := time.AfterFunc(20*time.Second, func() {
		term.mu.Lock()
		term.cond.Broadcast()
		term.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(20 * time.Second)
	term.mu.Lock()
	defer term.mu.Unlock()
	for {
		if i := strings.Index(term.shown.String()[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q; it shows %q", want, term.shown.String()[from:])
		}
		term.cond.Wait()
	}
}

func (term *terminal) String() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.shown.String()
}

func batch(records int64, sched, proc time.Duration) progress.Batch {
	return progress.Batch{Time: time.Now(), Records: records, SchedulingDelay: sched, ProcessingTime: proc, TotalDelay: sched + proc}
}

func TestDrawsAndRedrawsOnATerminal(t *testing.T) {
	term := newTerminal(t, 200)
	st := progress.New(term.tty, progress.Options{})
	if !st.Drawing() {
		t.Fatal("a status on a pseudo-terminal does not draw")
	}
	st.Begin(progress.Phase{Label: "bench grep", Total: 3, Interval: time.Second})
	at := term.waitFor(t, 0, clearLine+"bench grep · waiting for the first batch · ")
	st.Observe(batch(20000, 3*time.Millisecond, 40*time.Millisecond))
	at = term.waitFor(t, at, clearLine+"bench grep · batch 1/3 · ")
	at = term.waitFor(t, at, " left · 20.0k rec/s · delay 43ms, p50 43ms · proc 40ms · sched 3ms")
	st.Observe(batch(40000, 5*time.Millisecond, 60*time.Millisecond))
	at = term.waitFor(t, at, clearLine+"bench grep · batch 2/3 · ")
	at = term.waitFor(t, at, " left · 30.0k rec/s · delay 65ms, p50 43ms · proc 60ms · sched 5ms")

	// A line printed through Writer clears the status; the status comes
	// back below it.
	write := func(w io.Writer, s string) {
		if _, err := io.WriteString(w, s); err != nil {
			t.Fatal(err)
		}
	}
	write(st.Writer(term.tty), "a line of the command's own\n")
	at = term.waitFor(t, at, clearLine+"a line of the command's own\r\n")
	at = term.waitFor(t, at, clearLine+"bench grep · batch 2/3 · ")

	// Close clears the status and draws no more.
	st.Close()
	write(term.tty, "END\n")
	end := term.waitFor(t, at, "END")
	shown := term.String()[:end]
	if !strings.HasSuffix(shown, clearLine+"END") {
		t.Errorf("the status was not cleared at Close: the terminal ends with %q", shown[max(len(shown)-200, 0):])
	}
	write(st.Writer(term.tty), "after\n") // straight through
	term.waitFor(t, end, "after")
}

func TestFitsTheTerminalsWidth(t *testing.T) {
	term := newTerminal(t, 40)
	st := progress.New(term.tty, progress.Options{})
	st.Begin(progress.Phase{Label: "a long label that fills a narrow terminal by itself", Total: 10, Interval: time.Second})
	st.Observe(batch(1, 0, 0))
	term.waitFor(t, 0, "…")
	st.Close()
	for _, drawn := range strings.Split(term.String(), clearLine)[1:] {
		if n := utf8.RuneCountInString(drawn); n > 39 {
			t.Errorf("a status of %d characters on a terminal of 40 columns: %q", n, drawn)
		}
	}
}

// Not a terminal: nothing is written, and no goroutine runs.
func TestSilentWhenNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	file, err := os.CreateTemp(t.TempDir(), "status")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	term := newTerminal(t, 80)
	ignore := goleak.IgnoreCurrent() // the terminal's reader
	for _, tc := range []struct {
		name string
		w    io.Writer
		mode progress.Mode
	}{
		{"pipe", w, progress.Auto},
		{"file", file, progress.Auto},
		{"buffer", &bytes.Buffer{}, progress.Auto},
		{"terminal, mode off", term.tty, progress.Off},
	} {
		st := progress.New(tc.w, progress.Options{Mode: tc.mode})
		if st.Drawing() {
			t.Errorf("%s: the status draws", tc.name)
		}
		if got := st.Writer(tc.w); got != tc.w {
			t.Errorf("%s: Writer wraps its writer", tc.name)
		}
		if err := goleak.Find(ignore); err != nil {
			t.Errorf("%s: a silent status runs a goroutine: %v", tc.name, err)
		}
		st.Begin(progress.Phase{Label: "bench grep", Total: 3, Interval: time.Second})
		st.Observe(batch(100, time.Millisecond, time.Millisecond))
		st.Note("note")
		st.Close()
	}
	w.Close()
	if b, _ := io.ReadAll(r); len(b) > 0 {
		t.Errorf("the pipe got %q", b)
	}
	if b, _ := os.ReadFile(file.Name()); len(b) > 0 {
		t.Errorf("the file got %q", b)
	}
	term.tty.WriteString("END\n")
	if end := term.waitFor(t, 0, "END"); end != len("END") {
		t.Errorf("the terminal (mode off) shows %q before END", term.String()[:end-len("END")])
	}
}

func TestCloseStopsTheGoroutine(t *testing.T) {
	st := progress.New(io.Discard, progress.Options{Mode: progress.On})
	if err := goleak.Find(); err == nil {
		t.Fatal("a status that draws runs no goroutine")
	}
	st.Close()
	st.Close() // twice is fine
	goleak.VerifyNone(t)
}

func TestNilStatus(t *testing.T) {
	var st *progress.Status
	st.Begin(progress.Phase{Label: "x"})
	st.SetTotal(3)
	st.Note("n")
	st.Observe(batch(1, 0, 0))
	var b bytes.Buffer
	if st.Drawing() || st.Writer(&b) != io.Writer(&b) {
		t.Error("a nil status draws")
	}
	st.Close()
}
