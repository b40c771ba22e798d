package ratecontrol

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Limiter holds a receiver's intake to a rate, which the driver changes
// as the estimate moves. A rate of 0 means no limit. It is safe for
// concurrent use.
type Limiter struct {
	lim *rate.Limiter
}

// NewLimiter makes a limiter with no limit.
func NewLimiter() *Limiter { return &Limiter{lim: rate.NewLimiter(rate.Inf, 1)} }

// Set limits the intake to r records per second (0 or less: no limit),
// with bursts of up to burst records (at least 1).
func (l *Limiter) Set(r float64, burst int) {
	burst = max(burst, 1)
	if r <= 0 || math.IsInf(r, 1) || math.IsNaN(r) {
		l.lim.SetLimit(rate.Inf)
		return
	}
	if l.lim.Limit() == rate.Limit(r) && l.lim.Burst() == burst {
		return
	}
	l.lim.SetBurst(burst)
	l.lim.SetLimit(rate.Limit(r))
}

// Rate returns the current limit (0: none).
func (l *Limiter) Rate() float64 {
	if r := l.lim.Limit(); r != rate.Inf {
		return float64(r)
	}
	return 0
}

// Wait blocks until one more record may be taken, or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error { return l.lim.Wait(ctx) }

// Take takes n records now if the rate allows it, and otherwise takes
// nothing and says how long until it would. A take of more records than
// the burst is charged as the burst: it waits for a full bucket, not for
// one that can never hold it.
func (l *Limiter) Take(n int) (ok bool, retryAfter time.Duration) {
	if n <= 0 {
		return true, 0
	}
	now := time.Now()
	r := l.lim.ReserveN(now, min(n, l.lim.Burst()))
	if !r.OK() { // the burst shrank meanwhile
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
