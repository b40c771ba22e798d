package sluice

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/ratecontrol"
)

// Backpressure (DESIGN.md section 6) is on by default: each input stream
// that can be held back (Generate, TextFiles, SocketText, HTTPText) has a
// PID rate estimator, fed after every completed batch with the input's
// records in it, the batch's processing time and its scheduling delay,
// measured on the context's clock. The estimate (see PID) becomes the
// input's limit: rate × batch interval records per batch. A static
// MaxRate caps it, with or without backpressure. What each input does
// with its limit:
//
//   - Generate reads at most the limit of the records that have arrived
//     (at its fixed rate) and that it has not read yet; the rest wait for
//     later batches, keeping the event time of their arrival;
//   - TextFiles takes whole new files, in name order, while their lines
//     fit in the limit (at least one file per batch, if any is waiting);
//     the driver counts the lines of each new file to know;
//   - SocketText stops reading from its connection while over its rate,
//     so TCP flow control slows the sender down;
//   - HTTPText answers 429 Too Many Requests, with Retry-After, to a
//     request it cannot take now, instead of holding it.
//
// QueueStream is never limited: its batches are the test's own, one per
// interval. A clock that does not move while a batch runs (a test's
// manual clock) gives no processing time, so backpressure never sets a
// limit there: tests see the input they planned.

// PID are the settings of backpressure's rate estimator: see Backpressure
// and DefaultPID.
type PID = ratecontrol.PID

// DefaultPID returns the estimator's default settings, Spark Streaming's:
// proportional 1, integral 0.2, derivative 0, minimum rate 100 records/s.
// With them, each new rate is the rate at which the last batch was
// processed, less a fifth of the rate it would take to drain the
// batches waiting behind it.
func DefaultPID() PID { return ratecontrol.DefaultPID() }

// rateConfig is the backpressure options' part of the configuration; its
// zero value is backpressure on, with DefaultPID and no static maximum.
type rateConfig struct {
	off bool
	pid *PID    // nil: DefaultPID
	max float64 // records/s per input; 0: none
}

// NoBackpressure turns backpressure off: inputs read everything they have
// (up to MaxRate, if set). Benchmarks that measure a fixed input rate
// want it.
func NoBackpressure() Option { return func(c *config) error { c.rates.off = true; return nil } }

// Backpressure turns backpressure on (it is on by default) with the given
// estimator settings. Start from DefaultPID:
//
//	pid := sluice.DefaultPID()
//	pid.MinRate = 1000 // never hold an input under 1000 records/s
//	c, err := sluice.NewContext(sluice.Backpressure(pid))
//
// Gains must be finite and >= 0, MinRate finite and > 0.
func Backpressure(pid PID) Option {
	return func(c *config) error {
		if err := pid.Validate(); err != nil {
			return fmt.Errorf("sluice: backpressure: %w", err)
		}
		c.rates.off, c.rates.pid = false, &pid
		return nil
	}
}

// MaxRate caps every input stream (but QueueStream) at recordsPerSecond,
// with or without backpressure: a batch reads at most recordsPerSecond ×
// batch interval records of each input (at least one, and for TextFiles
// at least one file).
func MaxRate(recordsPerSecond float64) Option {
	return func(c *config) error {
		if !(recordsPerSecond > 0) || math.IsInf(recordsPerSecond, 0) {
			return fmt.Errorf("sluice: max rate %v: want a finite number > 0", recordsPerSecond)
		}
		c.rates.max = recordsPerSecond
		return nil
	}
}

// inputRate is an input's rate control, on the driver: its estimator and
// its current limit.
type inputRate struct {
	batch time.Duration
	max   float64
	est   *ratecontrol.Estimator // nil without backpressure

	mu   sync.Mutex
	rate float64 // records/s; 0: no limit
	// records are the records planned for each batch not yet completed
	// (by batch time, Unix ns), the estimator's input.
	records map[int64]int64
}

// newInputRate makes an input's rate control, or returns nil when
// neither backpressure nor MaxRate limits inputs.
func (c *Context) newInputRate() *inputRate {
	rc := c.cfg.rates
	if rc.off && rc.max == 0 {
		return nil
	}
	r := &inputRate{batch: c.cfg.batch, max: rc.max, rate: rc.max, records: make(map[int64]int64)}
	if !rc.off {
		pid := DefaultPID()
		if rc.pid != nil {
			pid = *rc.pid
		}
		est, err := ratecontrol.New(c.cfg.batch, pid)
		if err != nil {
			panic(err) // the batch interval and the settings were checked
		}
		r.est = est
	}
	return r
}

// current returns the input's rate limit, records/s (0: none).
func (r *inputRate) current() float64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate
}

// limit returns the records a batch of the input may read now, or -1 for
// no limit.
func (r *inputRate) limit() int64 {
	if rate := r.current(); rate > 0 {
		return ratecontrol.Limit(rate, r.batch)
	}
	return -1
}

// planned records the input's records in batch t (-1: unknown).
func (r *inputRate) planned(t time.Time, records int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records[t.UnixNano()] = records
}

// completed feeds the estimator with batch b and returns the input's
// rate limit after it, and whether it changed.
func (r *inputRate) completed(b BatchInfo) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := b.Time.UnixNano()
	records, ok := r.records[t]
	for bt := range r.records {
		if bt <= t {
			delete(r.records, bt)
		}
	}
	if !ok || r.est == nil || b.Err != nil || records <= 0 {
		return r.rate, false
	}
	est, ok := r.est.Update(b.Time, records, b.ProcessingTime, b.SchedulingDelay)
	if !ok {
		return r.rate, false
	}
	if r.max > 0 {
		est = min(est, r.max)
	}
	changed := est != r.rate
	r.rate = est
	return est, changed
}

// startRates gives the receivers their initial rate (MaxRate), before
// they start.
func (c *Context) startRates() error {
	var errs []error
	for _, n := range c.receivers {
		if rate := n.rate.current(); rate > 0 {
			errs = append(errs, c.env.driver.SetReceiverRate(n.id, rate))
		}
	}
	return errors.Join(errs...)
}

// updateRates feeds each input's estimator with a completed batch, and
// sends the receivers whose rate changed their new one.
func (c *Context) updateRates(b BatchInfo) {
	keys := c.inputKeys()
	for _, n := range c.inputs {
		if n.rate == nil {
			continue
		}
		rate, changed := n.rate.completed(b)
		if changed && n.recv != nil {
			if err := c.env.driver.SetReceiverRate(n.id, rate); err != nil {
				c.cfg.logger.Warn("sluice: cannot update a receiver's rate", "input", keys[n], "err", err)
			}
		}
		if c.obs != nil {
			c.obs.m.SetInputRate(keys[n], rate)
		}
		if c.hist != nil {
			c.hist.rateChanged(keys[n], rate)
		}
	}
}

// InputStatus is an input stream's rate limit, in the status.
type InputStatus struct {
	// Input names the input by kind and ordinal among the inputs of that
	// kind, as metadata checkpoints do: "Generate#0", "HTTPText#1".
	Input string `json:"input"`
	// RateLimit is the records per second the input may read now, from
	// backpressure's estimate and MaxRate (0: no limit).
	RateLimit float64 `json:"rate_limit"`
	// Backpressure says whether an estimator sets RateLimit.
	Backpressure bool `json:"backpressure"`
}

// inputStatus lists the inputs that can be held back (not QueueStream).
func (c *Context) inputStatus() []InputStatus {
	keys := c.inputKeys()
	var out []InputStatus
	for _, n := range c.inputs {
		if n.rate != nil {
			out = append(out, InputStatus{Input: keys[n], RateLimit: n.rate.current(), Backpressure: n.rate.est != nil})
		}
	}
	return out
}
