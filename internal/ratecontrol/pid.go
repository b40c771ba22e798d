package ratecontrol

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// PID are the settings of the rate estimator. The zero value is not
// valid: start from DefaultPID.
type PID struct {
	// Proportional weighs the difference between the latest rate and the
	// latest batch's processing rate (default 1).
	Proportional float64
	// Integral weighs the scheduling delay, as the rate it would take to
	// drain it (default 0.2).
	Integral float64
	// Derivative weighs the change of the error per second (default 0).
	Derivative float64
	// MinRate is the lowest rate the estimator returns, in records per
	// second (default 100): a rate of 0 would stop an input for good,
	// since a batch with no records does not update the estimate.
	MinRate float64
}

// DefaultPID returns Spark Streaming's defaults: proportional 1, integral
// 0.2, derivative 0, minimum rate 100 records/s.
func DefaultPID() PID { return PID{Proportional: 1, Integral: 0.2, Derivative: 0, MinRate: 100} }

// Validate reports settings the estimator cannot work with: a negative
// or non-finite gain, or a minimum rate that is not positive.
func (p PID) Validate() error {
	for _, g := range []struct {
		name string
		v    float64
	}{{"proportional", p.Proportional}, {"integral", p.Integral}, {"derivative", p.Derivative}} {
		if g.v < 0 || math.IsNaN(g.v) || math.IsInf(g.v, 0) {
			return fmt.Errorf("ratecontrol: %s gain %v: want a finite number >= 0", g.name, g.v)
		}
	}
	if !(p.MinRate > 0) || math.IsInf(p.MinRate, 0) {
		return fmt.Errorf("ratecontrol: minimum rate %v: want a finite number > 0", p.MinRate)
	}
	return nil
}

// Estimator is a PID rate estimator for one input (see the package doc).
type Estimator struct {
	batch time.Duration
	pid   PID

	mu sync.Mutex
	// first is true until the first update, which only records the
	// processing rate.
	first bool
	// latestTime is the batch time of the latest update, latestRate the
	// rate it returned (or, after the first, the processing rate), and
	// latestError its error.
	latestTime  time.Time
	latestRate  float64
	latestError float64
	// ok is set once the estimator returned a rate.
	ok bool
}

// ErrBatch is returned by New for a batch interval that is not positive.
var ErrBatch = errors.New("ratecontrol: the batch interval must be positive")

// New makes an estimator for batches of the given interval.
func New(batch time.Duration, pid PID) (*Estimator, error) {
	if batch <= 0 {
		return nil, ErrBatch
	}
	if err := pid.Validate(); err != nil {
		return nil, err
	}
	return &Estimator{batch: batch, pid: pid, first: true}, nil
}

// Update feeds the figures of a completed batch: its time, the input's
// records in it, how long its jobs ran and how long it waited before
// they started. It returns the new rate, in records per second, and true;
// or false when it has none: at the first update, which only records the
// processing rate, and when the batch had no records, no processing time
// or a time not after the previous update's (those are ignored).
func (e *Estimator) Update(t time.Time, records int64, processing, scheduling time.Duration) (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if records <= 0 || processing <= 0 || (!e.first && !t.After(e.latestTime)) {
		return 0, false
	}
	processingRate := float64(records) / processing.Seconds()
	if e.first {
		e.first = false
		e.latestTime, e.latestRate, e.latestError = t, processingRate, 0
		return 0, false
	}
	sinceUpdate := t.Sub(e.latestTime).Seconds()
	err := e.latestRate - processingRate
	historicalError := max(scheduling, 0).Seconds() * processingRate / e.batch.Seconds()
	dError := (err - e.latestError) / sinceUpdate
	rate := max(e.latestRate-e.pid.Proportional*err-e.pid.Integral*historicalError-e.pid.Derivative*dError, e.pid.MinRate)
	e.latestTime, e.latestRate, e.latestError, e.ok = t, rate, err, true
	return rate, true
}

// Rate returns the latest rate the estimator returned, and false if it
// has returned none yet.
func (e *Estimator) Rate() (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.latestRate, e.ok
}

// Limit returns the records a batch of the given interval may read at
// rate records per second: rate × batch, rounded down, at least 1 (an
// input held to less than a record per batch would never move), and
// math.MaxInt64 for an infinite or huge rate.
func Limit(rate float64, batch time.Duration) int64 {
	n := math.Floor(rate * batch.Seconds())
	switch {
	case math.IsNaN(n) || n < 1:
		return 1
	case n >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(n)
}
