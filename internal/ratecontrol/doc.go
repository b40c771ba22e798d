// Package ratecontrol holds the pieces of backpressure (DESIGN.md section
// 6): a PID rate estimator that turns each completed batch's figures into
// the rate an input may read at, and a token-bucket limiter that push
// receivers hold their intake to.
//
// # Use
//
//	est, err := ratecontrol.New(batch, ratecontrol.DefaultPID())
//	// after each completed batch, for each input:
//	if r, ok := est.Update(batchTime, records, processing, schedulingDelay); ok {
//		limit := ratecontrol.Limit(r, batch) // records the next batches may read
//	}
//
// The estimator has the semantics of Spark Streaming's PIDRateEstimator
// (org.apache.spark.streaming.scheduler.rate): the first update only
// records the processing rate, and every later one returns
//
//	max(latestRate − P·error − I·historicalError − D·dError, MinRate)
//
// where error = latestRate − processingRate, historicalError =
// schedulingDelay·processingRate/batchInterval (the records the queue of
// delayed batches holds, as a rate), and dError the change of error per
// second since the previous update. Batches with no records or no
// processing time (a manual clock in tests) do not update it. With the
// defaults (P 1, I 0.2, D 0) the new rate is the processing rate, less a
// fifth of what it takes to drain the scheduling delay.
//
// The estimator is a pure function of the figures it is given: no clock,
// no goroutine (STYLE.md rule 1), so tests drive it with simulated
// batches.
//
// # Dependencies
//
// Limiter is golang.org/x/time/rate's token bucket: the Go team's rate
// limiter, small, allocation-free on its hot path, safe for concurrent use,
// and with both a blocking Wait (a socket receiver stops reading, so TCP
// flow control slows its sender) and a non-blocking reservation that says
// how long to come back after (an HTTP receiver answers 429 with
// Retry-After). A home-made limiter would have to get the same clock and
// burst arithmetic right.
//
// # Goroutines
//
// None. Estimator and Limiter are safe for concurrent use.
package ratecontrol
