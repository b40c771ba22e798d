package runtime

import (
	"context"
	"time"
)

// Clock is the time source of the job generator. Tests inject a manual
// clock; production uses the wall clock.
type Clock interface {
	Now() time.Time
	// WaitUntil blocks until the clock reaches t or ctx is done.
	WaitUntil(ctx context.Context, t time.Time) error
}

// WallClock is the real clock.
type WallClock struct{}

// Now returns time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// WaitUntil sleeps until t.
func (WallClock) WaitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Batch is the work of one batch interval: the output jobs generated for
// its time.
type Batch struct {
	Time    time.Time
	Records int64
	// Jobs run in order, one per output operation.
	Jobs []func(ctx context.Context) error
}

// Generator produces batches: the stream graph behind an interface.
type Generator interface {
	// Generate fixes batch t's input and makes its jobs (driver side).
	Generate(t time.Time) (*Batch, error)
	// Completed is called after batch t's jobs all finished, in order;
	// it frees what no later batch needs.
	Completed(t time.Time)
}

// BatchInfo reports one processed batch.
type BatchInfo struct {
	Time    time.Time
	Records int64
	// SchedulingDelay is how long the batch waited before its first job
	// started; ProcessingTime how long its jobs ran; TotalDelay the sum.
	SchedulingDelay time.Duration
	ProcessingTime  time.Duration
	TotalDelay      time.Duration
	Err             error
}

// StreamConfig configures RunStream.
type StreamConfig struct {
	Interval time.Duration
	// First is the time of the first batch.
	First time.Time
	Clock Clock
	// MaxQueued bounds the batches generated but not yet processed
	// (default 1000); the generator waits when it is full.
	MaxQueued int
	// OnBatch, if set, is called after each batch (on the processing goroutine).
	OnBatch func(BatchInfo)
}

type queued struct {
	b   *Batch
	err error
}

// RunStream generates a batch every interval and processes batches one at
// a time, in order, until ctx is done (a graceful stop: the batch being
// processed completes) or a batch fails (its error is returned).
//
// Goroutines: RunStream owns one generator goroutine, stopped and waited
// for before it returns.
func RunStream(ctx context.Context, cfg StreamConfig, g Generator) error {
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 1000
	}
	genCtx, stopGen := context.WithCancel(ctx)
	q := make(chan queued, cfg.MaxQueued)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		defer close(q)
		generate(genCtx, cfg, g, q)
	}()
	defer func() {
		stopGen()
		for range q { // drain so the generator can exit
		}
		<-genDone
	}()
	for item := range q {
		if item.err != nil {
			return item.err
		}
		info := process(cfg, item.b)
		if cfg.OnBatch != nil {
			cfg.OnBatch(info)
		}
		if info.Err != nil {
			return info.Err
		}
		g.Completed(item.b.Time)
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func generate(ctx context.Context, cfg StreamConfig, g Generator, q chan<- queued) {
	for t := cfg.First; ; t = t.Add(cfg.Interval) {
		if cfg.Clock.WaitUntil(ctx, t) != nil {
			return
		}
		b, err := g.Generate(t)
		select {
		case q <- queued{b, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// process runs a batch's jobs; they are not cancelled by a graceful stop.
func process(cfg StreamConfig, b *Batch) BatchInfo {
	start := cfg.Clock.Now()
	info := BatchInfo{Time: b.Time, Records: b.Records, SchedulingDelay: start.Sub(b.Time)}
	for _, j := range b.Jobs {
		if err := j(context.Background()); err != nil {
			info.Err = err
			break
		}
	}
	end := cfg.Clock.Now()
	info.ProcessingTime = end.Sub(start)
	info.TotalDelay = end.Sub(b.Time)
	return info
}
