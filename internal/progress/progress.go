package progress

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Mode says when a Status draws.
type Mode int

const (
	// Auto draws when the writer is a terminal (a file descriptor for
	// which term.IsTerminal holds).
	Auto Mode = iota
	// On always draws (tests, or a caller that knows better).
	On
	// Off never draws.
	Off
)

// Options configures a Status.
type Options struct {
	Mode Mode
	// Every is the time between redraws (default, and least, 250ms: a
	// status line redrawn more often only flickers).
	Every time.Duration
}

// minEvery is the least time between redraws.
const minEvery = 250 * time.Millisecond

// Batch is what the status shows of a processed batch.
type Batch struct {
	// Time is the batch's time.
	Time    time.Time `json:"time"`
	Records int64     `json:"records"`
	// SchedulingDelay is how long the batch waited to start,
	// ProcessingTime how long it ran, TotalDelay from its time to its
	// end (their sum).
	SchedulingDelay time.Duration `json:"scheduling_delay"`
	ProcessingTime  time.Duration `json:"processing_time"`
	TotalDelay      time.Duration `json:"total_delay"`
	// Failed says the batch failed: it counts, but not in the figures.
	Failed bool `json:"failed,omitempty"`
}

// Phase is a stretch of a command with batches of its own: a run of a
// benchmark, the reference run of the chaos test.
type Phase struct {
	// Label starts the status line ("bench grep", "chaos: reference run").
	Label string
	// Total is the number of batches the phase runs (0: unknown).
	Total int
	// Interval is the batch interval: the input rate is the records of
	// the recent batches over their intervals, and the time left the
	// batches left times it. 0 is a phase not paced by the clock (a run
	// as fast as it goes): the status shows neither rate nor delays, and
	// the time left follows the pace so far.
	Interval time.Duration
}

// recent is how many batches the rate and the median delay cover.
const recent = 20

// Status is a live status line. Its methods are safe for concurrent use,
// and do nothing on a nil *Status.
type Status struct {
	w     io.Writer
	fd    int // w's file descriptor, -1 if it has none
	on    bool
	every time.Duration
	quit  chan struct{}
	wg    sync.WaitGroup

	mu         sync.Mutex
	start      time.Time // New: elapsed time counts from it
	phase      Phase
	phaseStart time.Time
	done       int       // batches observed in the phase, failed ones too
	failed     int       // of which failed
	batches    []Batch   // the last recent successful batches, oldest first
	observedAt time.Time // when the latest batch was observed
	note       string
	begun      bool // Begin was called: there is something to draw
	// drawn says the status is on the screen, the cursor at its end;
	// midLine that output through Writer left the cursor within a line,
	// where the status must not go until a newline ends it.
	drawn, midLine bool
	closed         bool
}

// New returns a status line drawn on w. With Mode Auto it draws only if w
// has a file descriptor (as *os.File does) that is a terminal; otherwise
// it writes nothing to w, ever. Close it when done.
func New(w io.Writer, o Options) *Status {
	s := &Status{w: w, fd: -1, every: max(o.Every, minEvery), start: time.Now()}
	s.phaseStart = s.start
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		s.fd = int(f.Fd())
	}
	switch o.Mode {
	case On:
		s.on = true
	case Auto:
		s.on = s.fd >= 0 && term.IsTerminal(s.fd)
	}
	if s.on {
		s.quit = make(chan struct{})
		s.wg.Add(1)
		go s.loop()
	}
	return s
}

// Drawing reports whether the status is drawn (w is a terminal, or Mode
// On): whether New started its goroutine.
func (s *Status) Drawing() bool { return s != nil && s.on }

// Begin starts a phase: the batch count, figures and time left start
// again; the elapsed time does not. Nothing is drawn before the first
// phase begins (a command may have output of its own to print first).
func (s *Status) Begin(p Phase) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.phaseStart, s.begun = p, time.Now(), true
	s.done, s.failed, s.batches, s.observedAt, s.note = 0, 0, nil, time.Time{}, ""
}

// SetTotal sets the number of batches of the phase, once known.
func (s *Status) SetTotal(n int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.phase.Total = n
	s.mu.Unlock()
}

// Note sets a short text shown at the end of the status ("" for none),
// until the next phase.
func (s *Status) Note(text string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.note = text
	s.mu.Unlock()
}

// Observe counts a processed batch.
func (s *Status) Observe(b Batch) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done++
	s.observedAt = time.Now()
	if b.Failed {
		s.failed++
		return
	}
	if len(s.batches) == recent {
		s.batches = slices.Delete(s.batches, 0, 1)
	}
	s.batches = append(s.batches, b)
}

// Writer returns a writer to w (another stream on the same terminal, or
// the status's own writer) whose writes clear the status first, so that
// they do not share its line; the status comes back at the next redraw.
// When the status is not drawn, it returns w itself.
func (s *Status) Writer(w io.Writer) io.Writer {
	if !s.Drawing() {
		return w
	}
	return &above{s: s, w: w}
}

// above is Writer's writer.
type above struct {
	s *Status
	w io.Writer
}

func (a *above) Write(p []byte) (int, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.s.clear()
	n, err := a.w.Write(p)
	if len(p) > 0 {
		a.s.midLine = p[len(p)-1] != '\n'
	}
	return n, err
}

// Close stops drawing, waits for the redraw goroutine and clears the
// status from the screen. What is written through Writer afterwards goes
// straight through.
func (s *Status) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed || !s.on {
		return
	}
	close(s.quit)
	s.wg.Wait()
	s.mu.Lock()
	s.clear()
	s.mu.Unlock()
}

// loop redraws the status every s.every until Close.
func (s *Status) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.draw(now)
			s.mu.Unlock()
		}
	}
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// draw draws the status in place (s.mu held). A failed write is ignored:
// the status is an aid, and the command's own output reports trouble.
func (s *Status) draw(now time.Time) {
	if !s.begun || s.midLine || s.closed {
		return
	}
	io.WriteString(s.w, clearLine+fit(s.line(now), s.width()-1))
	s.drawn = true
}

// clear erases the status if it is on the screen (s.mu held).
func (s *Status) clear() {
	if s.drawn {
		io.WriteString(s.w, clearLine)
		s.drawn = false
	}
}

// width is the terminal's width (80 if unknown).
func (s *Status) width() int {
	if s.fd >= 0 {
		if w, _, err := term.GetSize(s.fd); err == nil && w > 1 {
			return w
		}
	}
	return 80
}

// fit cuts line to n characters at most: a status wider than the terminal
// would wrap, and the next redraw would erase only its last row.
func fit(line string, n int) string {
	if utf8.RuneCountInString(line) <= n {
		return line
	}
	r := []rune(line)
	return string(r[:max(n-1, 0)]) + "…"
}

// line is the status at now (s.mu held). The most telling parts come
// first, since a narrow terminal cuts the end: progress and time, the
// note, then the rate and the delays.
func (s *Status) line(now time.Time) string {
	var b strings.Builder
	if s.phase.Label != "" {
		b.WriteString(s.phase.Label + " · ")
	}
	switch {
	case s.done == 0:
		b.WriteString("waiting for the first batch")
	case s.phase.Total > 0:
		fmt.Fprintf(&b, "batch %d/%d", s.done, s.phase.Total)
	default:
		fmt.Fprintf(&b, "batch %d", s.done)
	}
	if s.failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", s.failed)
	}
	fmt.Fprintf(&b, " · %s", clock(now.Sub(s.start)))
	if left, ok := s.left(now); ok {
		fmt.Fprintf(&b, ", %s left", clock(left))
	}
	if s.note != "" {
		b.WriteString(" · " + s.note)
	}
	if n := len(s.batches); n > 0 && s.phase.Interval > 0 {
		last := s.batches[n-1]
		var records int64
		delays := make([]time.Duration, n)
		for i, x := range s.batches {
			records += x.Records
			delays[i] = x.TotalDelay
		}
		slices.Sort(delays)
		rate := float64(records) / (float64(n) * s.phase.Interval.Seconds())
		fmt.Fprintf(&b, " · %s rec/s · delay %s, p50 %s · proc %s · sched %s", count(rate),
			duration(last.TotalDelay), duration(delays[(n-1)/2]), duration(last.ProcessingTime), duration(last.SchedulingDelay))
	}
	return b.String()
}

// left estimates the phase's time left (s.mu held): the batches left
// times the interval, from the latest batch; or, not paced by the clock,
// at the pace so far.
func (s *Status) left(now time.Time) (time.Duration, bool) {
	n := s.phase.Total - s.done
	if s.phase.Total <= 0 || s.done == 0 || n <= 0 {
		return 0, false
	}
	if s.phase.Interval > 0 {
		return max(time.Duration(n)*s.phase.Interval-now.Sub(s.observedAt), 0), true
	}
	per := s.observedAt.Sub(s.phaseStart) / time.Duration(s.done)
	return max(time.Duration(n)*per-now.Sub(s.observedAt), 0), true
}

// duration formats a delay: "850µs", "42ms", "1.25s".
func duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// clock formats an elapsed time: "42s", "3m05s", "1h02m".
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// count formats a rate: "950", "20.0k", "1.25M".
func count(x float64) string {
	switch {
	case x < 1000:
		return fmt.Sprintf("%.0f", x)
	case x < 1e6:
		return fmt.Sprintf("%.1fk", x/1e3)
	default:
		return fmt.Sprintf("%.2fM", x/1e6)
	}
}
