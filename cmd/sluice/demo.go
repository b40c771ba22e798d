package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/internal/progress"
)

var errUsage = errors.New("usage")

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

// demoUI is where the demo serves its web UI by default.
const demoUI = "127.0.0.1:4040"

// demoFlags makes the demo's flag set, which sets f and cfg.
func demoFlags(stderr io.Writer) (fs *flag.FlagSet, f *sluice.Flags, cfg *demo.Config) {
	fs = flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f = &sluice.Flags{Master: "local-cluster[2]", Batch: time.Second, HTTP: demoUI}
	f.Register(fs)
	def := demo.DefaultConfig()
	cfg = &def
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "ad events per second")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "generator seed (same seed, same events)")
	fs.IntVar(&cfg.Window, "window", cfg.Window, "sliding window length, in batches")
	fs.Int64Var(&cfg.Threshold, "threshold", cfg.Threshold, "default clicks per window above which a user is flagged")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice demo [flags]\n\nStreaming ad-fraud and billing analytics over a generated ad stream:\n"+
			"views and clicks per campaign over a sliding window, users whose clicks exceed\n"+
			"their threshold in a static model, and every advertiser's running spend.\n\nflags:\n")
		fs.PrintDefaults()
	}
	return fs, f, cfg
}

// demoBuilder returns the build function of the demo run with args (for
// `sluice replay`).
func demoBuilder(args []string) (func(*sluice.Context), error) {
	fs, _, cfg := demoFlags(io.Discard)
	if err := parse(fs, args); err != nil {
		return nil, fmt.Errorf("the demo's recorded arguments %q do not parse", args)
	}
	return func(c *sluice.Context) { demo.Build(c, *cfg) }, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f, cfg := demoFlags(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	// --duration counts batches: a 10s run at 1s batches prints 10
	// batches however the start falls between batch times. The timeout
	// is a backstop for a job that cannot keep up.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.Batch <= 0 {
		return fmt.Errorf("batch interval %v must be positive", f.Batch)
	}
	want := int(f.Duration / f.Batch)
	var backstop time.Duration
	if f.Duration > 0 {
		backstop = 3*f.Duration + 10*f.Batch
	}
	st := startStatus(stdout, stderr)
	defer st.close()
	out := st.stdout
	var job *demo.Job
	// ready is closed once the first lines are out: batches print after
	// them.
	ready := make(chan struct{})
	start, n := time.Now(), 0
	// OnBatch runs after each batch, in order, so the report of the batch
	// (sent by its last output operation) is already there.
	c, err := sluice.NewContext(append(f.Options(), sluice.Program(demoProgram, args...), sluice.OnBatch(func(b sluice.BatchInfo) {
		<-ready
		st.Observe(batchOf(b))
		if b.Err != nil {
			return
		}
		demo.Print(out, <-job.Reports, start)
		fmt.Fprintf(out, "   processed in %v, total delay %v\n\n",
			b.ProcessingTime.Round(time.Millisecond), b.TotalDelay.Round(time.Millisecond))
		if n++; n == want {
			cancel()
		}
	}))...)
	if err != nil {
		return err
	}
	job = demo.Build(c, *cfg)
	if sluice.IsWorker() { // a worker process serves the driver from Start on
		return sluice.RunUntilDone(ctx, c, backstop)
	}
	return runStarted(ctx, c, backstop, func(err error) {
		defer close(ready)
		if err != nil {
			return
		}
		if addr := c.HTTPAddr(); addr != "" {
			fmt.Fprintf(out, "web UI: http://%s/  (metrics: /metrics, status: /status)\n", addr)
		}
		fmt.Fprintf(out, "sluice demo: master %s, batch %v, %d events/s, window %d batches (Ctrl-C to stop)\n\n",
			f.Master, f.Batch, cfg.Rate, cfg.Window)
		st.Begin(progress.Phase{Label: "demo", Total: want, Interval: f.Batch})
	})
}

// runStarted is sluice.RunUntilDone with a call in between: it starts c,
// calls started with Start's error (after a successful Start, c's HTTP
// address is known), and runs c until ctx is done, d passes (if d > 0) or
// the job fails; then it stops c gracefully and returns the job's error.
// (The context has no hook of its own for "started": the demo prints its
// web UI address there, before the first batch's results.) Signals are
// the caller's: run stops ctx on SIGINT and SIGTERM.
func runStarted(ctx context.Context, c *sluice.Context, d time.Duration, started func(error)) error {
	err := c.Start()
	started(err)
	if err != nil {
		c.Stop()
		return err
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err = c.AwaitTermination(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if serr := c.Stop(); serr != nil {
		return serr
	}
	return err
}
