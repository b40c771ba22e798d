package sluice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/checkpoint"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Clock is the time source of a streaming context. The wall clock is the
// default; sluicetest.ManualClock drives batches in tests without sleeping.
type Clock interface {
	Now() time.Time
	// WaitUntil blocks until the clock reaches t or ctx is done.
	WaitUntil(ctx context.Context, t time.Time) error
}

// BatchInfo reports one processed batch.
type BatchInfo = runtime.BatchInfo

// Context is a streaming job: its configuration, its stream graph and the
// engine that runs it. Build the graph (sources, transformations, outputs),
// then Start it; the graph cannot change after Start.
type Context struct {
	cfg config
	reg *lineage.Registry
	env *env

	// statePlacements counts the MapWithState states placed again by key
	// (restored from a checkpoint of another parallelism).
	statePlacements atomic.Int64

	mu      sync.Mutex
	nodes   []*node
	inputs  []*node
	outputs []*node
	names   map[string]*node
	// outputNames are the names of the outputs written to sinks.
	outputNames map[string]bool
	err         error // first construction error
	state       int   // created, started, stopped
	cancel      context.CancelFunc
	done        chan struct{}
	runErr      error
	static      *lineage.Scope
	first       time.Time // first batch time, set by Start
	// receivers are the push sources' nodes: their receivers run on
	// workers between Start and Stop.
	receivers []*node
	// lastDone is the last completed batch (Unix ns); received counts the
	// records receivers stored.
	lastDone atomic.Int64
	received atomic.Int64
	onStart  []func() // run by Start before the first batch
	// onStop are run by Stop once the engine stopped (closing sources);
	// afterBatch after each batch, in order, on the driver.
	onStop     []func()
	afterBatch []func(BatchInfo)
	// inputNames are the names of the inputs read from sources; bad
	// counts the bad records their dead-letter outputs wrote, by input.
	inputNames map[string]bool
	bad        map[string]int64
	// cl is set on the driver of a local-cluster, wk in a worker process.
	cl *clusterDriver
	wk *workerMode
	// obs serves metrics, status and the web UI (the HTTP option); hist
	// records what the UI shows (set with the HTTP option).
	obs  *observer
	hist *history
	// ck writes and reads checkpoints (the Checkpoint option).
	ck *checkpoints
	// crashed (tests) makes Stop act as a killed driver: no final
	// checkpoint.
	crashed bool
	// genMu is held while a batch's inputs are planned.
	genMu sync.Mutex
	// staticSealed is the sequence number of the first static dataset
	// made after Start (a cluster's workers cannot rebuild those).
	staticSealed int32
	// rec recomputes lost state after a worker is lost (cluster driver).
	rec recovery
	// held are the datasets whose shuffle outputs Completed keeps for the
	// lineage of state since its last cut (see holdLineage); only the
	// batch loop's goroutine uses it.
	held map[lineage.ID]bool
}

const (
	created = iota
	started
	stopped
)

type config struct {
	batch         time.Duration
	master        string
	workers       int
	parallelism   int
	clock         Clock
	logger        *slog.Logger
	out           io.Writer
	onBatch       func(BatchInfo)
	onError       func(error)
	workerArgs    []string
	workerKey     string
	http          string
	workerProfile string
	listen        string
	secret        []byte
	plaintext     bool
	workerTimeout time.Duration
	checkpoint    string
	allowDropped  bool
	wal           bool
	blockInterval time.Duration
	// store, if set (tests), is the checkpoint store instead of the one
	// checkpoint names.
	store checkpoint.Store
	// program and programArgs are recorded in metadata checkpoints (see
	// Program).
	program     string
	programArgs []string
	// stragglers are the workers made stragglers (a testing aid), by index.
	stragglers map[int]runtime.Straggle
	// sched holds the speculation and exclusion settings (its Epoch is
	// set at Start).
	sched scheduler.Config
	// rates configures backpressure and MaxRate (backpressure.go).
	rates rateConfig
}

// Option configures a Context.
type Option func(*config) error

// Batch sets the batch interval (default 1s; at least 1ms).
func Batch(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("sluice: batch interval %v is below 1ms", d)
		}
		c.batch = d
		return nil
	}
}

// BlockInterval sets how often push receivers (SocketText, HTTPText) cut
// what they received into a block (default DefaultBlockInterval): a block
// is the unit that is copied to a second worker, acknowledged and
// processed as one partition of its batch.
func BlockInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("sluice: block interval %v is under 1ms", d)
		}
		c.blockInterval = d
		return nil
	}
}

// WriteAheadLog makes push receivers write every block to the checkpoint
// store (see Checkpoint) before acknowledging it, so that received
// records survive the loss of every worker holding them, and a restart of
// the driver: a resumed job processes the blocks received but not yet
// processed. Without it, a block is lost only if both workers holding it
// die, but the blocks of batches not completed at a driver restart are.
func WriteAheadLog() Option { return func(c *config) error { c.wal = true; return nil } }

// Master sets where the job runs: "local" (one worker), "local[N]" (N
// workers in this process), "local[*]" (one per CPU) or
// "local-cluster[N]" (N worker processes on this machine, started from
// this program's binary with the same arguments; see Start) or
// "standalone[N]" (workers started by hand anywhere, with `PROGRAM worker
// --driver ADDR`; the job starts once N joined, and later ones are used
// from the next batch; see Listen and Secret). Default local[*].
func Master(m string) Option { return func(c *config) error { c.master = m; return nil } }

// Parallelism sets the default number of partitions of shuffles and
// inputs (default: the number of workers).
func Parallelism(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("sluice: parallelism %d is below 1", n)
		}
		c.parallelism = n
		return nil
	}
}

// WorkerArgs sets the arguments local-cluster starts the worker processes
// with (default: this process's own). The workers must build the same
// graph: test harnesses use it to run only the current test.
func WorkerArgs(args ...string) Option {
	return func(c *config) error { c.workerArgs = append([]string{}, args...); return nil }
}

// HTTP serves the driver's web UI at /, its Prometheus metrics at
// /metrics and a JSON status at /status on addr ("127.0.0.1:0" picks a
// free port; see Context.HTTPAddr; with DefaultUI, a taken port moves to
// the next free one of 16).
// The workers of a local-cluster then serve /metrics too, on ports they
// pick. Default: off (Main's --ui flag defaults to DefaultUI). The UI keeps
// a bounded history of recent batches, tasks and events.
func HTTP(addr string) Option { return func(c *config) error { c.http = addr; return nil } }

// Listen sets the address a standalone driver accepts workers on
// (default 127.0.0.1:7077; use 0.0.0.0:7077 to accept other hosts).
func Listen(addr string) Option { return func(c *config) error { c.listen = addr; return nil } }

// Secret sets the cluster secret of a standalone cluster (at least 16
// bytes; by default the SLUICE_SECRET environment variable, in hex). Every
// connection is mutual TLS from it: a process without it cannot join.
func Secret(b []byte) Option {
	return func(c *config) error {
		if len(b) < 16 {
			return fmt.Errorf("sluice: a cluster secret needs at least 16 bytes, got %d", len(b))
		}
		c.secret = append([]byte(nil), b...)
		return nil
	}
}

// WorkerTimeout sets how long a worker may stay silent (no heartbeat, no
// result) before the driver declares it lost and runs its tasks elsewhere
// (default 2s; workers heartbeat every 250ms, or every timeout/2 if less).
func WorkerTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("sluice: worker timeout %v is below 10ms", d)
		}
		c.workerTimeout = d
		return nil
	}
}

// Plaintext turns off TLS and authentication between the driver and the
// workers: development only, and allowed on loopback addresses only.
func Plaintext() Option { return func(c *config) error { c.plaintext = true; return nil } }

// WorkerCPUProfile makes each local-cluster worker write a CPU profile of
// its run to prefix.worker-N (N its index): on a cluster, the work happens
// in the workers, not in the driver.
func WorkerCPUProfile(prefix string) Option {
	return func(c *config) error { c.workerProfile = prefix; return nil }
}

// WorkerKey names this context among the contexts of a program (a test
// binary builds many): local-cluster's worker processes serve the context
// with the driver's key and run the others in-process, as local mode.
func WorkerKey(key string) Option { return func(c *config) error { c.workerKey = key; return nil } }

// NoSpeculation turns speculative execution off. It is on by default: once
// 75% of a stage's tasks have finished, a task running longer than 1.5
// times their median (and at least 100ms) gets a backup copy on another
// worker; the first result wins, the other copy is cancelled and its
// output discarded (see SpeculationSettings).
func NoSpeculation() Option {
	return func(c *config) error { c.sched.NoSpeculation = true; return nil }
}

// SpeculationSettings sets when a task gets a backup copy: once quantile
// (0 < q ≤ 1) of its stage's tasks have finished, if it has run longer than
// multiplier (≥ 1) times their median duration and at least minDuration.
func SpeculationSettings(quantile, multiplier float64, minDuration time.Duration) Option {
	return func(c *config) error {
		if !(quantile > 0 && quantile <= 1) || !(multiplier >= 1) || math.IsInf(multiplier, 1) || minDuration < 0 {
			return fmt.Errorf("sluice: SpeculationSettings(%v, %v, %v): need 0 < quantile ≤ 1, a finite multiplier ≥ 1 and minDuration ≥ 0",
				quantile, multiplier, minDuration)
		}
		c.sched.SpeculationQuantile, c.sched.SpeculationMultiplier = quantile, multiplier
		c.sched.SpeculationMinDuration = minDuration
		if minDuration == 0 {
			c.sched.SpeculationMinDuration = time.Nanosecond // 0 would mean the default
		}
		return nil
	}
}

// WorkerExclusion sets when a worker that keeps failing or straggling is
// excluded: after strikes task failures or straggles (a task of it beaten
// by its backup copy) within period, it gets no new task for period,
// while another worker can take them (default: 3 strikes, 30 s). Strikes
// of 0 turns exclusion off.
func WorkerExclusion(strikes int, period time.Duration) Option {
	return func(c *config) error {
		if strikes < 0 || (strikes > 0 && period <= 0) {
			return fmt.Errorf("sluice: WorkerExclusion(%d, %v): need strikes ≥ 0 and a positive period", strikes, period)
		}
		c.sched.NoExclusion = strikes == 0
		c.sched.ExcludeAfter, c.sched.ExcludeFor = strikes, period
		return nil
	}
}

// Straggler makes worker i (from 0: local[N]'s local-i, local-cluster's
// worker-i) a straggler, a testing aid for speculative execution: each of
// its tasks takes slowdown times as long as it ran, the extra time spent
// sleeping, not computing, so that the other workers keep their share of
// a machine's cores. A replacement local-cluster starts for a lost worker
// is not slowed. A standalone worker is slowed with
// `sluice worker --slowdown F` (or SLUICE_WORKER_STRAGGLE=F).
func Straggler(i int, slowdown float64) Option {
	return func(c *config) error {
		if i < 0 || !(slowdown >= 1) || math.IsInf(slowdown, 1) {
			return fmt.Errorf("sluice: Straggler(%d, %v): need a worker index ≥ 0 and a finite slowdown ≥ 1", i, slowdown)
		}
		return c.straggle(i, runtime.Straggle{Slowdown: slowdown})
	}
}

// StalledWorker makes worker i (as Straggler numbers them) a straggler
// that never finishes a task: each of its tasks ends only when cancelled
// (when a backup copy elsewhere wins, or the job ends). A testing aid;
// a standalone worker stalls with `sluice worker --stall`.
func StalledWorker(i int) Option {
	return func(c *config) error {
		if i < 0 {
			return fmt.Errorf("sluice: StalledWorker(%d): need a worker index ≥ 0", i)
		}
		return c.straggle(i, runtime.Straggle{Stall: true})
	}
}

func (c *config) straggle(i int, s runtime.Straggle) error {
	if c.stragglers == nil {
		c.stragglers = make(map[int]runtime.Straggle)
	}
	c.stragglers[i] = s
	return nil
}

// WithClock replaces the wall clock (tests use sluicetest.ManualClock).
func WithClock(cl Clock) Option { return func(c *config) error { c.clock = cl; return nil } }

// Logger sets the structured logger (default: slog.Default()).
func Logger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// Output sets where Print writes (default os.Stdout).
func Output(w io.Writer) Option { return func(c *config) error { c.out = w; return nil } }

// OnBatch registers a function called after every batch with its figures.
// It runs on the goroutine that processes batches, in batch order: a slow
// function delays the next batch.
func OnBatch(f func(BatchInfo)) Option { return func(c *config) error { c.onBatch = f; return nil } }

// OnError registers a function called with every input error a source
// reports and skips (an unreadable file, a malformed line); they are
// logged too. It is called from receiver and task goroutines, possibly
// concurrently: it must be safe for concurrent use.
func OnError(f func(error)) Option { return func(c *config) error { c.onError = f; return nil } }

// ParseMaster returns the number of workers of a master: "local" (1),
// "local[N]" or "local[*]" (one per CPU) in this process, or
// "local-cluster[N]", N worker processes on this machine.
func ParseMaster(m string) (int, error) {
	_, n, err := parseMaster(m)
	return n, err
}

const maxLocalClusterWorkers = 64

// masterKind says where a master runs the workers.
type masterKind int

const (
	inProcess    masterKind = iota // local[N]
	localCluster                   // local-cluster[N]: processes the driver starts
	standalone                     // standalone[N]: processes started by hand
)

func parseMaster(m string) (kind masterKind, n int, err error) {
	bracket := func(prefix string) (int, error) {
		n, err := strconv.Atoi(m[len(prefix) : len(m)-1])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("sluice: master %q: want %sN] with N >= 1", m, prefix)
		}
		return n, nil
	}
	switch {
	case m == "local":
		return inProcess, 1, nil
	case m == "local[*]":
		return inProcess, goruntime.NumCPU(), nil
	case strings.HasPrefix(m, "local[") && strings.HasSuffix(m, "]"):
		n, err := bracket("local[")
		return inProcess, n, err
	case strings.HasPrefix(m, "local-cluster[") && strings.HasSuffix(m, "]"):
		n, err := bracket("local-cluster[")
		if err == nil && n > maxLocalClusterWorkers {
			err = fmt.Errorf("sluice: master %q: at most %d worker processes", m, maxLocalClusterWorkers)
		}
		return localCluster, n, err
	case m == "standalone":
		return standalone, 1, nil
	case strings.HasPrefix(m, "standalone[") && strings.HasSuffix(m, "]"):
		n, err := bracket("standalone[")
		return standalone, n, err
	default:
		return inProcess, 0, fmt.Errorf("sluice: unknown master %q (want local, local[N], local[*], local-cluster[N] or standalone[N])", m)
	}
}

// NewContext makes a streaming context. Stop it when done.
func NewContext(opts ...Option) (*Context, error) {
	cfg := config{batch: time.Second, master: "local[*]", clock: runtime.WallClock{}, out: os.Stdout, blockInterval: DefaultBlockInterval}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.wal && cfg.checkpoint == "" && cfg.store == nil {
		return nil, errors.New("sluice: WriteAheadLog needs a checkpoint store (Checkpoint)")
	}
	kind, n, err := parseMaster(cfg.master)
	if err != nil {
		return nil, err
	}
	cfg.workers = n
	if cfg.parallelism == 0 {
		cfg.parallelism = n
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	c := &Context{cfg: cfg, reg: lineage.NewRegistry(), names: make(map[string]*node), done: make(chan struct{})}
	c.static = c.reg.Scope(0, 0)
	if cfg.http != "" && !servesAsWorker(cfg.workerKey) {
		c.hist = newHistory(c)
	}
	if err := c.openCheckpoints(); err != nil {
		return nil, err
	}
	switch {
	case servesAsWorker(cfg.workerKey):
		c.wk = &workerMode{cuts: make(map[cutKey]runtime.Cut)}
		c.env = &env{close: func() {}, parallelism: cfg.parallelism}
		return c, nil
	case kind != inProcess && !inWorkerProcess():
		c.cl = &clusterDriver{n: n, standalone: kind == standalone}
		c.env = &env{close: func() {}, parallelism: cfg.parallelism}
		return c, nil
	}
	local, err := runtime.NewLocal(n, (*resolver)(c), runtime.LocalConfig{Encode: os.Getenv(encodeEnv) == "1",
		Config: runtime.Config{OnBlock: c.onBlock, Scheduler: cfg.sched, Observer: c.observer()}, Stragglers: cfg.stragglers})
	if err != nil {
		return nil, err
	}
	c.env = &env{driver: local.Driver, close: local.Close, local: local, parallelism: cfg.parallelism}
	return c, nil
}

// Parallelism returns the default number of partitions of shuffles and
// inputs.
func (c *Context) Parallelism() int { return c.cfg.parallelism }

// Master returns where the job runs.
func (c *Context) Master() string { return c.cfg.master }

// BatchInterval returns the batch interval.
func (c *Context) BatchInterval() time.Duration { return c.cfg.batch }

// Err returns the first error met while building the graph (a nil
// function, a window that is not a multiple of the batch interval, a
// change after Start). Start returns it too.
func (c *Context) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail records a construction error, naming the operation and the user's
// line that built it.
func (c *Context) fail(op string, err error) {
	file, line := userCaller()
	e := fmt.Errorf("sluice: %s (at %s:%d): %w", op, shortFile(file), line, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = e
	}
}

// pkgPrefix prefixes the names of this package's functions in stack
// frames (not those of sluice_test or of subpackages).
var pkgPrefix = reflect.TypeFor[Context]().PkgPath() + "."

// userCaller returns the first caller outside this package: the line that
// built the operation, however deep the operation's helpers (a window op
// built on others, the checks of stateful ops) call fail.
func userCaller() (string, int) {
	var pcs [32]uintptr
	frames := goruntime.CallersFrames(pcs[:goruntime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, pkgPrefix) {
			return f.File, f.Line
		}
		if !more {
			return f.File, f.Line
		}
	}
}

func shortFile(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		if j := strings.LastIndex(f[:i], "/"); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

// ErrGraphStarted is returned (through Err and by the running job) when an
// operation is added after Start.
var ErrGraphStarted = errors.New("the stream graph cannot change after Start")

// encodeEnv, set to 1, makes local mode encode and decode everything a
// cluster would send between processes: a test knob that checks the
// record codecs of a whole suite without starting processes.
const encodeEnv = "SLUICE_TEST_ENCODE"

// env is the engine datasets run on: the driver of local mode or of a
// cluster.
type env struct {
	driver      *runtime.Driver
	close       func()
	local       *runtime.Local // local mode only (tests count its workers' blocks)
	parallelism int
}

func (e *env) RunJob(ctx context.Context, d *lineage.Dataset, action runtime.Action) ([]any, error) {
	if e.driver == nil {
		return nil, errors.New("sluice: actions run on the driver once the context started")
	}
	return e.driver.RunJob(ctx, d, d.ID.Time, action)
}

func (e *env) Parallelism() int { return e.parallelism }

// Parallelize makes a static dataset of records in parts partitions
// (parts <= 0: the context's parallelism), e.g. a model or a table to join
// a stream with in Transform.
func Parallelize[T any](c *Context, records []T, parts int) Dataset[T] {
	return dataset.Parallelize(c.env, c.static, records, parts)
}

// Dataset is an immutable, partitioned collection with lineage: each batch
// of a stream is one. See package dataset for its operations.
type Dataset[T any] = dataset.Dataset[T]

// KV is a key/value pair, the record type of keyed operations.
type KV[K comparable, V any] = dataset.KV[K, V]

// Pair builds a KV.
func Pair[K comparable, V any](k K, v V) KV[K, V] { return KV[K, V]{Key: k, Value: v} }

// Joined holds the two sides of a joined record.
type Joined[L, R any] = dataset.Joined[L, R]

// Optional is a value that may be absent (an outer join's missing side).
type Optional[V any] = dataset.Optional[V]

// Partitioner places keys in partitions (see dataset.Partitioner).
type Partitioner[K any] = dataset.Partitioner[K]
