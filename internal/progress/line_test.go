package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// still is a Status that draws into a buffer when told to (no goroutine),
// a phase begun, its clock set: elapsed 0 at t0.
func still(t0 time.Time) (*Status, *bytes.Buffer) {
	var b bytes.Buffer
	return &Status{w: &b, fd: -1, on: true, start: t0, phaseStart: t0, begun: true}, &b
}

func TestLine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s, _ := still(t0)
	if got, want := s.line(t0.Add(3*time.Second)), "waiting for the first batch · 3s"; got != want {
		t.Errorf("before a batch: %q, want %q", got, want)
	}
	s.phase = Phase{Label: "chaos", Total: 60, Interval: time.Second}
	delays := []time.Duration{90, 10, 30, 50, 70} // ms; median 50
	for i, d := range delays {
		s.Observe(Batch{Records: 1000 * int64(i+1), SchedulingDelay: time.Millisecond, ProcessingTime: (d - 1) * time.Millisecond, TotalDelay: d * time.Millisecond})
	}
	s.Observe(Batch{Failed: true})
	s.observedAt = t0.Add(65 * time.Second)
	s.Note("2 worker kills")
	// 15,000 records over 5 one-second batches; 54 batches left, the
	// latest observed 5 s ago: 49 s left.
	want := "chaos · batch 6/60 (1 failed) · 1m10s, 49s left · 2 worker kills · 3.0k rec/s · delay 70ms, p50 50ms · proc 69ms · sched 1ms"
	if got := s.line(t0.Add(70 * time.Second)); got != want {
		t.Errorf("line:\n got %q\nwant %q", got, want)
	}
	// Not paced by the clock: no rate or delays; time left at the pace so
	// far (6 batches in 65 s).
	s.phase.Interval = 0
	want = "chaos · batch 6/60 (1 failed) · 1m10s, 9m40s left · 2 worker kills"
	if got := s.line(t0.Add(70 * time.Second)); got != want {
		t.Errorf("line:\n got %q\nwant %q", got, want)
	}
	s.Begin(Phase{Label: "next"})
	if got := s.line(s.phaseStart); !strings.HasPrefix(got, "next · waiting for the first batch · ") || strings.Contains(got, "kills") {
		t.Errorf("after Begin: %q", got)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{duration(850 * time.Microsecond), "850µs"},
		{duration(42 * time.Millisecond), "42ms"},
		{duration(1250 * time.Millisecond), "1.25s"},
		{clock(42 * time.Second), "42s"},
		{clock(185 * time.Second), "3m05s"},
		{clock(62*time.Minute + 10*time.Second), "1h02m"},
		{count(950), "950"},
		{count(20000), "20.0k"},
		{count(1_250_000), "1.25M"},
		{fit("abcdef", 6), "abcdef"},
		{fit("abcdef", 4), "abc…"},
		{fit("a·b·c", 4), "a·b…"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Output that leaves the cursor within a line holds the status back until
// a newline ends it; Writer clears the status before it writes.
func TestWriterAndMidLine(t *testing.T) {
	t0 := time.Now()
	s, b := still(t0)
	s.draw(t0)
	if got := b.String(); got != clearLine+"waiting for the first batch · 0s" {
		t.Fatalf("drawn: %q", got)
	}
	b.Reset()
	var out bytes.Buffer
	w := s.Writer(&out)
	w.Write([]byte("a prompt: "))
	if b.String() != clearLine || out.String() != "a prompt: " {
		t.Fatalf("status %q, output %q; want the status cleared, then the output", b.String(), out.String())
	}
	b.Reset()
	s.draw(t0)
	if b.Len() != 0 {
		t.Errorf("drawn within a line: %q", b.String())
	}
	w.Write([]byte("yes\n"))
	if b.Len() != 0 {
		t.Errorf("a cleared status cleared again: %q", b.String())
	}
	s.draw(t0)
	if !strings.HasPrefix(b.String(), clearLine+"waiting") {
		t.Errorf("not drawn after the newline: %q", b.String())
	}
}

// Nothing is drawn before the first phase begins.
func TestNothingBeforeBegin(t *testing.T) {
	t0 := time.Now()
	s, b := still(t0)
	s.begun = false
	s.Observe(Batch{Records: 1})
	s.draw(t0)
	if b.Len() != 0 {
		t.Errorf("drawn before Begin: %q", b.String())
	}
	s.Begin(Phase{Label: "run"})
	s.draw(t0)
	if !strings.HasPrefix(b.String(), clearLine+"run · waiting") {
		t.Errorf("not drawn after Begin: %q", b.String())
	}
}
