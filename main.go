package sluice

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
)

// DefaultUI is where Main serves the web UI unless --ui says otherwise
// (Spark's port: when it is taken, the next free one up to 4056).
const DefaultUI = "127.0.0.1:4040"

// Flags are the command-line settings every Sluice program accepts.
type Flags struct {
	Master      string
	Batch       time.Duration
	Parallelism int
	// Duration stops the job after this long (0: run until interrupted).
	Duration time.Duration
	// HTTP is where the driver serves the web UI, /metrics and /status
	// ("": nowhere): the --ui flag (--http is its old name).
	HTTP string
	// Listen is where a standalone driver accepts workers.
	Listen string
	// SecretFile holds the cluster secret in hex (default: the
	// SLUICE_SECRET environment variable); Plaintext turns TLS off
	// (loopback only).
	SecretFile string
	Plaintext  bool
	// Checkpoint is where checkpoints go and are resumed from (see
	// Checkpoint); AllowDroppedState lets a resume drop the state of
	// operators the job no longer has.
	Checkpoint        string
	AllowDroppedState bool
	// NoBackpressure turns backpressure off (see NoBackpressure);
	// MaxRate, if > 0, caps every input (see MaxRate).
	NoBackpressure bool
	MaxRate        float64
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Master, "master", f.Master, "where to run: local, local[N], local[*], local-cluster[N] or standalone[N]")
	fs.DurationVar(&f.Batch, "batch", f.Batch, "batch interval (e.g. 1s, 500ms)")
	fs.IntVar(&f.Parallelism, "parallelism", f.Parallelism, "default number of partitions (0: one per worker)")
	fs.DurationVar(&f.Duration, "duration", f.Duration, "stop after this long (0: until Ctrl-C or SIGTERM)")
	fs.StringVar(&f.HTTP, "ui", f.HTTP, "serve the web UI, Prometheus /metrics and JSON /status here (the default's port taken: the next free one of 16; empty: off)")
	fs.StringVar(&f.HTTP, "http", f.HTTP, "old name of --ui")
	fs.StringVar(&f.Listen, "listen", f.Listen, "standalone master: accept workers on this address (default 127.0.0.1:7077)")
	fs.StringVar(&f.SecretFile, "secret-file", f.SecretFile, "file holding the cluster secret in hex (default: $SLUICE_SECRET)")
	fs.BoolVar(&f.Plaintext, "plaintext", f.Plaintext, "no TLS between driver and workers (development, loopback only)")
	fs.StringVar(&f.Checkpoint, "checkpoint", f.Checkpoint, "checkpoint to (and resume from) this directory or s3://bucket/prefix?endpoint=… (empty: no checkpoints)")
	fs.BoolVar(&f.AllowDroppedState, "allow-dropped-state", f.AllowDroppedState, "resume even if the checkpoint holds state of operators the job no longer has (dropping it)")
	fs.BoolVar(&f.NoBackpressure, "no-backpressure", f.NoBackpressure, "turn backpressure off: inputs read all they have (up to --max-rate)")
	fs.Float64Var(&f.MaxRate, "max-rate", f.MaxRate, "most records per second each input may read (0: no maximum)")
}

// Options turns the flags that were set into context options.
func (f *Flags) Options() []Option {
	var o []Option
	if f.Listen != "" {
		o = append(o, Listen(f.Listen))
	}
	if f.Plaintext {
		o = append(o, Plaintext())
	}
	if f.SecretFile != "" {
		o = append(o, secretFile(f.SecretFile))
	}
	if f.Master != "" {
		o = append(o, Master(f.Master))
	}
	if f.Batch != 0 {
		o = append(o, Batch(f.Batch))
	}
	if f.Parallelism != 0 {
		o = append(o, Parallelism(f.Parallelism))
	}
	if f.HTTP != "" {
		o = append(o, HTTP(f.HTTP))
	}
	if f.Checkpoint != "" {
		o = append(o, Checkpoint(f.Checkpoint))
	}
	if f.AllowDroppedState {
		o = append(o, AllowDroppedState())
	}
	if f.NoBackpressure {
		o = append(o, NoBackpressure())
	}
	if f.MaxRate != 0 {
		o = append(o, MaxRate(f.MaxRate))
	}
	return o
}

// secretFile reads the cluster secret (hex) from a file.
func secretFile(name string) Option {
	return func(c *config) error {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sluice: secret file: %w", err)
		}
		secret, err := rpc.ParseSecret(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("sluice: secret file %s: %w", name, err)
		}
		return Secret(secret)(c)
	}
}

// Main runs a streaming program: it parses the command line (see Flags),
// builds the job with build, runs it until Ctrl-C, SIGTERM or --duration,
// stops it gracefully (the batch in flight completes) and exits non-zero
// on error. opts are defaults that flags override. With --checkpoint DIR
// it resumes from DIR's checkpoint if there is one (see GetOrCreate), and
// a graceful stop writes a final one, so the next start repeats nothing.
//
// The same program is the driver and the workers. `PROGRAM --master
// local-cluster[N] …` starts its own workers; with `--master
// standalone[N]`, start the workers by hand, anywhere: `PROGRAM worker
// --driver HOST:PORT` asks the driver for the job's arguments and runs the
// program with them as a worker (see RunWorker). `PROGRAM state
// --checkpoint DIR --operator NAME [--key K]` prints a stateful operator's
// state from the job's latest state checkpoint (see ReadState).
func Main(build func(c *Context), opts ...Option) {
	if err := Run(context.Background(), os.Args[1:], build, opts...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Run is Main without the exit: it parses args, builds, runs and stops the
// job, and returns its error.
func Run(ctx context.Context, args []string, build func(c *Context), opts ...Option) error {
	if len(args) > 0 && args[0] == "worker" {
		return WorkerMain(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "state" {
		return StateMain(ctx, "state", args[1:], func(*CheckpointInfo) (func(*Context), error) { return build, nil }, os.Stdout, os.Stderr)
	}
	f := Flags{HTTP: DefaultUI}
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := NewContext(append(opts, f.Options()...)...)
	if err != nil {
		return err
	}
	build(c)
	return RunUntilDone(ctx, c, f.Duration)
}

// RunUntilDone starts c and runs it until ctx is done, SIGINT or SIGTERM
// arrives, d passes (if d > 0) or the job fails; then it stops c
// gracefully and returns the job's error.
func RunUntilDone(ctx context.Context, c *Context, d time.Duration) error {
	if err := c.Start(); err != nil {
		c.Stop()
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err := c.AwaitTermination(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if serr := c.Stop(); serr != nil {
		return serr
	}
	return err
}

// WorkerMain parses a worker's command line (--driver, --secret-file,
// --plaintext) and runs RunWorker.
func WorkerMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	driver := fs.String("driver", "", "the standalone driver's address (host:port)")
	file := fs.String("secret-file", "", "file holding the cluster secret in hex (default: $SLUICE_SECRET)")
	plain := fs.Bool("plaintext", false, "no TLS (development, loopback only)")
	wait := fs.Duration("wait", workerJoinWait, "how long to wait for the driver to listen")
	listen := fs.String("listen", "", "serve other workers here (default: 127.0.0.1:0 with a loopback driver, else :0)")
	advertise := fs.String("advertise", "", "the host:port other workers reach this one at (default: the listen address, or this host's address towards the driver)")
	slowdown := fs.Float64("slowdown", 0, "testing aid: make each task take this many times as long, sleeping (see Straggler)")
	stall := fs.Bool("stall", false, "testing aid: hold every task until it is cancelled (see StalledWorker)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *stall:
		os.Setenv(straggleEnv, "stall")
	case *slowdown != 0:
		os.Setenv(straggleEnv, strconv.FormatFloat(*slowdown, 'g', -1, 64))
	}
	if _, err := workerStraggle(); err != nil {
		return err
	}
	if *driver == "" {
		return errors.New("sluice: worker needs --driver HOST:PORT")
	}
	if *listen != "" {
		os.Setenv(listenEnv, *listen)
	}
	if *advertise != "" {
		os.Setenv(advertiseEnv, *advertise)
	}
	var opts []Option
	if *file != "" {
		opts = append(opts, secretFile(*file))
	}
	if *plain {
		opts = append(opts, Plaintext())
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	return RunWorker(ctx, *driver, opts...)
}
