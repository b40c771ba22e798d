package ratecontrol

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func at(k int) time.Time { return t0.Add(time.Duration(k) * time.Second) }

// update is one Update call and what it should return.
type update struct {
	t          time.Time
	records    int64
	processing time.Duration
	scheduling time.Duration
	rate       float64 // want; ignored when !ok
	ok         bool
}

func TestEstimatorUpdates(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name    string
		pid     PID
		updates []update
	}{
		{"first update only records the processing rate", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec, ok: false},
		}},
		{"second update: processing rate when it matches", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec},
			{t: at(2), records: 1000, processing: sec, rate: 1000, ok: true},
		}},
		{"proportional: the rate follows the processing rate", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec},
			// error = 1000 - 500 = 500; newRate = 1000 - 500 = 500
			{t: at(2), records: 1000, processing: 2 * sec, rate: 500, ok: true},
		}},
		{"integral: scheduling delay lowers the rate", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec},
			// error 0; historicalError = 2s·1000/1s = 2000; 1000 - 0.2·2000 = 600
			{t: at(2), records: 1000, processing: sec, scheduling: 2 * sec, rate: 600, ok: true},
		}},
		{"minimum rate", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec},
			{t: at(2), records: 10, processing: sec, scheduling: 100 * sec, rate: 100, ok: true},
		}},
		{"custom minimum rate", PID{Proportional: 1, Integral: 0.2, MinRate: 5}, []update{
			{t: at(1), records: 1000, processing: sec},
			{t: at(2), records: 10, processing: sec, rate: 10, ok: true},
		}},
		{"derivative", PID{Proportional: 1, Integral: 0, Derivative: 0.5, MinRate: 1}, []update{
			{t: at(1), records: 1000, processing: sec},
			// error = 1000 - 800 = 200, dError = (200 - 0)/1s; 1000 - 200 - 0.5·200 = 700
			{t: at(2), records: 800, processing: sec, rate: 700, ok: true},
			// error = 700 - 700 = 0, dError = (0 - 200)/2s = -100; 700 - 0 + 50 = 750
			{t: at(4), records: 700, processing: sec, rate: 750, ok: true},
		}},
		{"zero proportional keeps the rate but for the integral", PID{Proportional: 0, Integral: 0.2, MinRate: 1}, []update{
			{t: at(1), records: 1000, processing: sec},
			{t: at(2), records: 100, processing: sec, scheduling: sec, rate: 1000 - 0.2*100, ok: true},
		}},
		{"ignored: no records, no processing time, no time progress", DefaultPID(), []update{
			{t: at(1), records: 0, processing: sec},
			{t: at(1), records: 1000, processing: 0},
			{t: at(1), records: 1000, processing: sec}, // the first that counts
			{t: at(2), records: 0, processing: sec},
			{t: at(3), records: 1000, processing: 0},
			{t: at(1), records: 2000, processing: sec}, // not after the latest
			{t: at(4), records: 2000, processing: sec, rate: 2000, ok: true},
		}},
		{"negative scheduling delay counts as none", DefaultPID(), []update{
			{t: at(1), records: 1000, processing: sec},
			{t: at(2), records: 1000, processing: sec, scheduling: -sec, rate: 1000, ok: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(time.Second, tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			for i, u := range tt.updates {
				r, ok := e.Update(u.t, u.records, u.processing, u.scheduling)
				if ok != u.ok || (ok && math.Abs(r-u.rate) > 1e-9) {
					t.Fatalf("update %d: got (%v, %v), want (%v, %v)", i, r, ok, u.rate, u.ok)
				}
			}
		})
	}
}

func TestEstimatorRate(t *testing.T) {
	e, _ := New(time.Second, DefaultPID())
	if _, ok := e.Rate(); ok {
		t.Fatal("a rate before any update")
	}
	e.Update(at(1), 500, time.Second, 0)
	if _, ok := e.Rate(); ok {
		t.Fatal("a rate after the first update")
	}
	e.Update(at(2), 400, time.Second, 0)
	if r, ok := e.Rate(); !ok || r != 400 {
		t.Fatalf("Rate() = %v, %v; want 400, true", r, ok)
	}
}

func TestNewRefuses(t *testing.T) {
	nan := math.NaN()
	for _, tt := range []struct {
		name  string
		batch time.Duration
		pid   PID
	}{
		{"zero batch", 0, DefaultPID()},
		{"negative proportional", time.Second, PID{Proportional: -1, MinRate: 1}},
		{"negative integral", time.Second, PID{Integral: -1, MinRate: 1}},
		{"NaN derivative", time.Second, PID{Derivative: nan, MinRate: 1}},
		{"infinite gain", time.Second, PID{Proportional: math.Inf(1), MinRate: 1}},
		{"zero minimum rate", time.Second, PID{Proportional: 1}},
		{"NaN minimum rate", time.Second, PID{Proportional: 1, MinRate: nan}},
	} {
		if _, err := New(tt.batch, tt.pid); err == nil {
			t.Errorf("%s: New accepted %v %+v", tt.name, tt.batch, tt.pid)
		}
	}
}

func TestLimit(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		batch time.Duration
		want  int64
	}{
		{1000, time.Second, 1000},
		{1000, 200 * time.Millisecond, 200},
		{1500.9, 100 * time.Millisecond, 150},
		{0.5, time.Second, 1},
		{0, time.Second, 1},
		{math.NaN(), time.Second, 1},
		{math.Inf(1), time.Second, math.MaxInt64},
		{1e30, time.Second, math.MaxInt64},
	} {
		if got := Limit(tt.rate, tt.batch); got != tt.want {
			t.Errorf("Limit(%v, %v) = %d, want %d", tt.rate, tt.batch, got, tt.want)
		}
	}
}

// system simulates a job whose input always has more records than it can
// take (a backlog), processed one batch at a time at a fixed capacity, with
// a fixed overhead per batch; the estimator limits each batch's records.
type system struct {
	batch    time.Duration
	capacity float64       // records per second
	overhead time.Duration // per batch, however many records
	arrival  float64       // records per second arriving

	est     *Estimator
	backlog float64
	busy    time.Duration // when the previous batch finished, from the start
}

type step struct {
	rate       float64 // the limit the batch read at (0: none)
	records    int64
	scheduling time.Duration
}

// run simulates n batches and returns what each did.
func (s *system) run(n int) []step {
	var out []step
	var rate float64
	for k := 1; k <= n; k++ {
		t := time.Duration(k) * s.batch // the batch's time
		s.backlog += s.arrival * s.batch.Seconds()
		records := int64(s.backlog)
		if rate > 0 {
			records = min(records, Limit(rate, s.batch))
		}
		s.backlog -= float64(records)
		start := max(t, s.busy)
		processing := s.overhead + time.Duration(float64(records)/s.capacity*float64(time.Second))
		s.busy = start + processing
		out = append(out, step{rate, records, start - t})
		if r, ok := s.est.Update(t0.Add(t), records, processing, start-t); ok {
			rate = r
		}
	}
	return out
}

func TestEstimatorConverges(t *testing.T) {
	for _, tt := range []struct {
		name     string
		batch    time.Duration
		capacity float64
		overhead time.Duration
		arrival  float64
	}{
		{"10x over capacity, 1s batches", time.Second, 10000, 0, 100000},
		{"3x over capacity, 200ms batches, overhead", 200 * time.Millisecond, 5000, 20 * time.Millisecond, 15000},
		{"50x over capacity, 100ms batches", 100 * time.Millisecond, 2000, 5 * time.Millisecond, 100000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.batch, DefaultPID())
			if err != nil {
				t.Fatal(err)
			}
			s := &system{batch: tt.batch, capacity: tt.capacity, overhead: tt.overhead, arrival: tt.arrival, est: e}
			steps := s.run(200)
			// What the system can take per second with the overhead of
			// one batch per interval.
			sustainable := tt.capacity * (1 - tt.overhead.Seconds()/tt.batch.Seconds())
			dev := func(from, to int) float64 { // largest relative deviation of the rate
				var d float64
				for _, st := range steps[from:to] {
					d = max(d, math.Abs(st.rate-sustainable)/sustainable)
				}
				return d
			}
			if d := dev(150, 200); d > 0.1 {
				t.Errorf("rate over the last 50 batches deviates up to %.0f%% from the sustainable %v/s", 100*d, sustainable)
			}
			if early, late := dev(50, 100), dev(150, 200); late > early+1e-9 {
				t.Errorf("oscillation grows: deviation %.3f in batches 50-100, %.3f in 150-200", early, late)
			}
			last := steps[len(steps)-1]
			if last.scheduling > 2*tt.batch {
				t.Errorf("scheduling delay %v at the end, want under 2 batches (%v)", last.scheduling, 2*tt.batch)
			}
			for _, st := range steps[5:] {
				if st.rate > 0 && st.rate < DefaultPID().MinRate {
					t.Fatalf("rate %v under the minimum", st.rate)
				}
			}
		})
	}
}

func TestEstimatorWithoutBackpressureDelayGrows(t *testing.T) {
	// The control case of the simulation: with no limit the delay grows
	// without bound, which is what the estimator prevents.
	e, _ := New(time.Second, DefaultPID())
	s := &system{batch: time.Second, capacity: 1000, arrival: 3000, est: e}
	var last step
	for k := 1; k <= 50; k++ {
		s.backlog += s.arrival
		t0 := time.Duration(k) * time.Second
		records := int64(s.backlog)
		s.backlog = 0
		start := max(t0, s.busy)
		s.busy = start + time.Duration(float64(records)/s.capacity*float64(time.Second))
		last = step{0, records, start - t0}
	}
	if last.scheduling < 50*time.Second {
		t.Fatalf("scheduling delay %v after 50 unlimited batches at 3x capacity, want over 50s", last.scheduling)
	}
}
