package sluice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// The environment of a worker process: local-cluster sets it for the
// processes it starts (the same binary, the same arguments).
const (
	roleEnv   = "SLUICE_ROLE"        // "worker"
	driverEnv = "SLUICE_DRIVER"      // the driver's address
	secretEnv = "SLUICE_SECRET"      // the cluster secret, hex
	nameEnv   = "SLUICE_WORKER_NAME" // the worker's name
	plainEnv  = "SLUICE_PLAINTEXT"   // "1": no TLS (loopback only)
	keyEnv    = "SLUICE_WORKER_KEY"  // the WorkerKey of the context to serve
	// metricsEnv is where a worker serves /metrics ("": not at all).
	metricsEnv = "SLUICE_WORKER_METRICS"
	// profileEnv is where a worker writes its CPU profile ("": none).
	profileEnv = "SLUICE_WORKER_CPUPROFILE"
	// listenEnv and advertiseEnv are where a worker serves other workers
	// and the address it tells them (see cluster.WorkerConfig; set by
	// `worker --listen/--advertise`).
	listenEnv    = "SLUICE_WORKER_LISTEN"
	advertiseEnv = "SLUICE_WORKER_ADVERTISE"
	// slotsEnv is a worker's task slots (default: one per core).
	slotsEnv = "SLUICE_WORKER_SLOTS"
	// straggleEnv makes a worker a straggler (a testing aid): a slowdown
	// factor, or "stall" (see Straggler and StalledWorker).
	straggleEnv = "SLUICE_WORKER_STRAGGLE"
)

// workerStraggle parses SLUICE_WORKER_STRAGGLE.
func workerStraggle() (runtime.Straggle, error) {
	v := os.Getenv(straggleEnv)
	if v == "" {
		return runtime.Straggle{}, nil
	}
	if v == "stall" {
		return runtime.Straggle{Stall: true}, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 1) || math.IsInf(f, 1) {
		return runtime.Straggle{}, fmt.Errorf("sluice: %s=%q: want a slowdown factor ≥ 1 or \"stall\"", straggleEnv, v)
	}
	return runtime.Straggle{Slowdown: f}, nil
}

// straggleValue is SLUICE_WORKER_STRAGGLE's value for s ("" for none).
func straggleValue(s runtime.Straggle) string {
	switch {
	case s.Stall:
		return "stall"
	case s.Slowdown > 1:
		return strconv.FormatFloat(s.Slowdown, 'g', -1, 64)
	}
	return ""
}

// workerSlots is this worker process's task slots: SLUICE_WORKER_SLOTS,
// else one per core.
func workerSlots() int {
	if n, err := strconv.Atoi(os.Getenv(slotsEnv)); err == nil && n > 0 {
		return n
	}
	return goruntime.NumCPU()
}

// workerMetrics is where local-cluster workers serve /metrics: on a port
// of their own when the driver serves HTTP.
func workerMetrics(driverHTTP string) string {
	if driverHTTP == "" {
		return ""
	}
	return "127.0.0.1:0"
}

// clusterDriver is the driver side of a local-cluster context.
type clusterDriver struct {
	once       sync.Once
	n          int
	standalone bool // workers start by hand; none are spawned
	drv        *cluster.Driver
	procs      *cluster.Processes
	quit       chan struct{}
	wg         sync.WaitGroup
}

// workerMode is the state of a context built in a worker process: it
// rebuilds datasets on demand from task descriptors.
type workerMode struct {
	w *cluster.Worker
	// fetchPlan, if set, replaces asking the driver (tests).
	fetchPlan func(node int32, t int64) ([]byte, error)
	mu        sync.Mutex // serialises graph building: IDs depend on build order
	// cuts are the truncated datasets tasks told us about, by node and
	// time: rebuilding stops there.
	cuts map[cutKey]runtime.Cut
}

type cutKey struct {
	node int32
	time int64
}

// inWorkerProcess reports whether this process was started as a worker.
func inWorkerProcess() bool { return os.Getenv(roleEnv) == "worker" }

// servesAsWorker reports whether a context with the given WorkerKey is
// the one this worker process serves: other contexts of the program run
// in-process, as local mode.
func servesAsWorker(key string) bool { return inWorkerProcess() && os.Getenv(keyEnv) == key }

// fingerprint describes the graph, the configuration, the arguments and
// the binary, for the driver to compare with its workers'.
func (c *Context) fingerprint() (cluster.Fingerprint, error) {
	bin, err := cluster.BinaryHash()
	if err != nil {
		return cluster.Fingerprint{}, err
	}
	fp := cluster.Fingerprint{Binary: bin, Args: jobArgs(os.Args[1:]),
		Config: fmt.Sprintf("batch=%v parallelism=%d", c.cfg.batch, c.cfg.parallelism)}
	for _, n := range c.nodes {
		parents := make([]int32, len(n.parents))
		for i, p := range n.parents {
			parents[i] = p.id
		}
		fp.Graph = append(fp.Graph, fmt.Sprintf("%d %s name=%q type=%s slide=%v lookback=%v self=%v parents=%v",
			n.id, n.kind, n.name, n.typ, n.slide, n.lookback, n.selfLookback, parents))
	}
	return fp, nil
}

// jobArgs drops the test runner's flags, which differ between a test
// process and the workers it starts for one test.
func jobArgs(args []string) []string {
	out := []string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-test.") {
			out = append(out, a)
		}
	}
	return out
}

// security returns the cluster's security from the options, else from the
// environment (SLUICE_SECRET in hex, or SLUICE_PLAINTEXT=1).
func security(cfg config) (rpc.Security, error) {
	switch {
	case inWorkerProcess() && os.Getenv(secretEnv) != "": // what the driver gave
	case cfg.plaintext || os.Getenv(plainEnv) == "1":
		return rpc.Security{Plaintext: true, Logger: cfg.logger}, nil
	case cfg.secret != nil:
		return rpc.Security{Secret: cfg.secret, Logger: cfg.logger}, nil
	case os.Getenv(secretEnv) == "":
		return rpc.Security{}, fmt.Errorf("sluice: no cluster secret: set %s (hex, e.g. from `openssl rand -hex 32`) in every process, or pass --plaintext on loopback", secretEnv)
	}
	secret, err := rpc.ParseSecret(os.Getenv(secretEnv))
	if err != nil {
		return rpc.Security{}, fmt.Errorf("sluice: %s: %w", secretEnv, err)
	}
	return rpc.Security{Secret: secret, Logger: cfg.logger}, nil
}

// startCluster starts the driver's server and, for local-cluster, the
// worker processes, and waits until the workers joined.
func (c *Context) startCluster() error {
	fp, err := c.fingerprint()
	if err != nil {
		return err
	}
	cl := c.cl
	sec := rpc.Security{Secret: rpc.NewSecret(), Logger: c.cfg.logger}
	listen := ""
	if cl.standalone {
		if sec, err = security(c.cfg); err != nil {
			return err
		}
		listen = cmp.Or(c.cfg.listen, "127.0.0.1:7077")
	}
	c.staticSealed = c.static.Next()
	drv, err := cluster.NewDriver(cluster.DriverConfig{Listen: listen, Security: sec, Fingerprint: fp, Plans: c.planFor,
		WorkerTimeout: c.cfg.workerTimeout,
		Args:          os.Args[1:], Logger: c.cfg.logger, Graph: (*resolver)(c), OnWorkerLost: c.workerLost,
		Runtime: runtime.Config{Pinned: c.pinned, ExtraCuts: c.allCuts, OnBlock: c.onBlock, Scheduler: c.schedulerConfig(), Observer: c.observer()}})
	if err != nil {
		return err
	}
	cl.drv, cl.quit = drv, make(chan struct{})
	c.rec.begin()
	c.env.driver = drv.Runtime
	c.env.close = cl.close
	var exited <-chan error
	wait := time.Minute
	if cl.standalone {
		wait = 10 * time.Minute
		c.cfg.logger.Info("waiting for workers", "want", cl.n, "driver", drv.Addr(),
			"start one with", fmt.Sprintf("%s worker --driver %s", filepath.Base(os.Args[0]), drv.Addr()))
	} else {
		if err := c.startProcesses(drv, sec); err != nil {
			cl.close()
			return err
		}
		exited = cl.procs.Exited()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	joined := make(chan error, 1)
	go func() { joined <- drv.WaitWorkers(ctx, cl.n) }()
	select {
	case err = <-joined:
	case err = <-exited:
		cancel()
		<-joined
	}
	if err != nil {
		cl.close()
		return fmt.Errorf("sluice: starting %s: %w", c.cfg.master, err)
	}
	if exited != nil {
		cl.wg.Add(1)
		go func() { // report workers that die while the job runs
			defer cl.wg.Done()
			for {
				select {
				case err := <-exited:
					if cluster.IsCleanExit(err) {
						c.cfg.logger.Info("drained worker process exited", "err", err)
					} else {
						c.cfg.logger.Warn("worker process exited", "err", err)
					}
				case <-cl.quit:
					return
				}
			}
		}()
	}
	return nil
}

// schedulerConfig is the scheduler's configuration: the options', and
// this driver's epoch.
func (c *Context) schedulerConfig() scheduler.Config {
	sc := c.cfg.sched
	sc.Epoch = c.epoch()
	return sc
}

// startProcesses starts local-cluster's worker processes.
func (c *Context) startProcesses(drv *cluster.Driver, sec rpc.Security) error {
	args := os.Args[1:]
	if c.cfg.workerArgs != nil {
		args = c.cfg.workerArgs
	}
	// A killed worker is replaced, as a cluster manager would: the job
	// keeps its N workers through failures (the chaos tests kill many).
	procs, err := cluster.StartProcesses(cluster.ProcessConfig{N: c.cl.n, Args: args, Respawn: true, RespawnDelay: 100 * time.Millisecond,
		Env: []string{roleEnv + "=worker", driverEnv + "=" + drv.Addr(), secretEnv + "=" + rpc.EncodeSecret(sec.Secret),
			keyEnv + "=" + c.cfg.workerKey, metricsEnv + "=" + workerMetrics(c.cfg.http),
			profileEnv + "=" + c.cfg.workerProfile},
		EnvFor: func(i int) []string {
			// The machine's cores shared among the workers: one task slot per core.
			slots := max(1, goruntime.NumCPU()/c.cl.n)
			return []string{fmt.Sprintf("%s=worker-%d", nameEnv, i), fmt.Sprintf("%s=%d", slotsEnv, slots),
				straggleEnv + "=" + straggleValue(c.cfg.stragglers[i])}
		}})
	if err != nil {
		return err
	}
	c.cl.procs = procs
	return nil
}

// close stops the driver (which tells the workers to stop), then the
// worker processes.
func (cl *clusterDriver) close() {
	cl.once.Do(func() {
		if cl.procs != nil {
			cl.procs.Stopping()
		}
		cl.drv.Close()
		if cl.procs != nil {
			cl.procs.Stop(5 * time.Second)
		}
		close(cl.quit)
		cl.wg.Wait()
	})
}

// pinned reports whether only the driver's process can build ds: a static
// dataset made after Start, or one made by an output operation's code on
// the driver (inside ForeachBatch). Workers rebuild every other dataset
// from their own copy of the graph.
func (c *Context) pinned(ds *lineage.Dataset) bool {
	id := ds.ID
	if id.Node == 0 {
		return id.Seq >= c.staticSealed
	}
	n := c.nodeByID(id.Node)
	return n == nil || n.output != nil
}

// planFor serves an input's encoded plan to workers.
func (c *Context) planFor(node int32, t int64) ([]byte, bool) {
	n := c.nodeByID(node)
	if n == nil {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	b, ok := n.plans[t]
	return b, ok
}

// exit ends a worker process; tests replace it.
var exit = os.Exit

// serveAsWorker runs this process as a worker of the driver named in its
// environment, until the driver stops it; then it exits the process.
func (c *Context) serveAsWorker() error {
	err := c.runWorker()
	code := 0
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	exit(code)
	return err
}

func (c *Context) runWorker() error {
	if err := c.Err(); err != nil {
		return err
	}
	if prefix := os.Getenv(profileEnv); prefix != "" {
		f, err := os.Create(prefix + "." + os.Getenv(nameEnv))
		if err != nil {
			return fmt.Errorf("sluice: worker CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("sluice: worker CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	c.mu.Lock()
	c.state = started
	c.computeRemember()
	c.mu.Unlock()
	fp, err := c.fingerprint()
	if err != nil {
		return err
	}
	sec, err := security(c.cfg)
	if err != nil {
		return err
	}
	straggle, err := workerStraggle()
	if err != nil {
		return err
	}
	w, err := cluster.NewWorker(cluster.WorkerConfig{Driver: os.Getenv(driverEnv), Name: os.Getenv(nameEnv),
		Security: sec, Fingerprint: fp, Graph: (*resolver)(c), Logger: c.cfg.logger, Metrics: os.Getenv(metricsEnv),
		Slots: workerSlots(), Straggle: straggle, Listen: os.Getenv(listenEnv), Advertise: os.Getenv(advertiseEnv),
		Welcome: func(first int64) {
			c.mu.Lock()
			c.first = time.Unix(0, first)
			c.mu.Unlock()
		}})
	if err != nil {
		return err
	}
	c.wk.w = w
	defer w.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: ends drainOnTerm
	wg.Add(1)
	go func() { // owned by runWorker: ends with ctx
		defer wg.Done()
		drainOnTerm(ctx, w, term, cancel)
	}()
	return w.Run(ctx)
}

// workerDrainWait bounds how long a worker that got SIGTERM waits for the
// driver to drain and release it before it leaves anyway.
const workerDrainWait = 2 * time.Minute

// drainOnTerm: at the first SIGTERM the worker asks the driver to drain
// it and goes on serving until the driver releases it (Run returns nil,
// the process exits 0); a second SIGTERM, or workerDrainWait, ends it at
// once (cancel), as a loss.
func drainOnTerm(ctx context.Context, w *cluster.Worker, term <-chan os.Signal, cancel context.CancelFunc) {
	select {
	case <-term:
	case <-ctx.Done():
		return
	}
	w.Drain()
	t := time.NewTimer(workerDrainWait)
	defer t.Stop()
	select {
	case <-term:
	case <-t.C:
	case <-ctx.Done():
		return
	}
	cancel()
}

// plan fetches an input's plan of batch t from the driver (worker side).
func (wm *workerMode) plan(node int32, t int64) ([]byte, error) {
	if wm.fetchPlan != nil {
		return wm.fetchPlan(node, t)
	}
	if wm.w == nil {
		return nil, errors.New("sluice: not connected to a driver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return wm.w.Plan(ctx, node, t)
}

// AddCuts records truncated datasets (runtime.Cutter).
func (r *resolver) AddCuts(cuts []runtime.Cut) {
	c := (*Context)(r)
	if c.wk == nil {
		return
	}
	c.wk.mu.Lock()
	defer c.wk.mu.Unlock()
	newest := make(map[int32]int64)
	for _, cut := range cuts {
		newest[cut.ID.Node] = max(newest[cut.ID.Node], cut.ID.Time)
		c.wk.cuts[cutKey{cut.ID.Node, cut.ID.Time}] = cut
		// A dataset this worker built before the driver cut it keeps its
		// lineage, and so every older dataset, alive: cut it here too.
		if d, err := c.reg.Lookup(cut.ID); err == nil && !d.Truncated() {
			d.Truncate(c.cutRead(c.nodeByID(cut.ID.Node), d))
		}
	}
	// Cuts older than a node remembers behind its newest one are not
	// needed any more (Forget leaves cuts alone: a task that listed them
	// may be about to rebuild from them).
	for k := range c.wk.cuts {
		if t, ok := newest[k.node]; ok && k.time < t {
			if n := c.nodeByID(k.node); n == nil || k.time < t-int64(n.remember) {
				delete(c.wk.cuts, k)
			}
		}
	}
}

// Forget drops the datasets the driver freed, and everything older of
// the same nodes (runtime.Forgetter; worker processes only).
func (r *resolver) Forget(ids map[lineage.ID]bool) {
	c := (*Context)(r)
	if c.wk == nil {
		return
	}
	latest := make(map[int32]int64)
	for id := range ids {
		if runtime.IsReceived(id) {
			continue // a received block: not a dataset of the graph
		}
		if id.Time != 0 && id.Time > latest[id.Node] {
			latest[id.Node] = id.Time
		}
	}
	c.wk.mu.Lock()
	defer c.wk.mu.Unlock()
	for node, t := range latest {
		n := c.nodeByID(node)
		if n == nil {
			continue
		}
		n.mu.Lock()
		for bt := range n.gen {
			if bt <= t {
				delete(n.gen, bt)
			}
		}
		n.mu.Unlock()
		c.reg.Forget(node, t+1)
	}
}

// cut returns the truncated dataset of n at t, if a task named it.
func (wm *workerMode) cut(node int32, t int64) (runtime.Cut, bool) {
	cut, ok := wm.cuts[cutKey{node, t}]
	return cut, ok
}

// stub makes the dataset of a cut: its partitions are only cached blocks.
func (n *node) stub(t time.Time, cut runtime.Cut) *lineage.Dataset {
	d := n.scope(t).NewWithID(cut.ID, n.kind, n.rtype, cut.NumParts, nil)
	d.Partitioning = cut.Partitioning
	d.Persist()
	d.Truncate(n.c.cutRead(n, d))
	return d
}

// cutRead is how a worker reads a dataset whose lineage the driver cut:
// from the checkpoint store if there is one, else from cached blocks only.
func (c *Context) cutRead(n *node, d *lineage.Dataset) lineage.ComputeFunc {
	if c.ck != nil && n != nil && n.truncateEvery > 0 {
		return c.readStored(n, d.ID.Time)
	}
	return runtime.ReadCached(d)
}

// IsWorker reports whether this process is a worker process of a
// local-cluster: the program builds its graph as usual, and Start serves
// the driver. Programs use it to skip driver-only work done before Start
// (opening a CPU profile, printing a banner).
func IsWorker() bool { return inWorkerProcess() }

// workerJoinWait bounds how long a standalone worker waits for its driver
// to listen.
const workerJoinWait = 30 * time.Second

// RunWorker runs this program as a worker of the standalone driver at
// driverAddr: it asks the driver for the job's arguments and replaces this
// process with the program run with them, in the worker role, so that it
// builds the same graph (the driver checks). While nothing listens at
// driverAddr it retries, for up to 30 s or until ctx is done. opts may set
// Secret or Plaintext; by default the SLUICE_SECRET environment variable is
// the secret. It returns only on error.
func RunWorker(ctx context.Context, driverAddr string, opts ...Option) error {
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return err
		}
	}
	cfg.logger = slog.Default()
	sec, err := security(cfg)
	if err != nil {
		return err
	}
	// The driver may not listen yet (processes start in any order): try
	// for a while, then say why not.
	ctx, cancel := context.WithTimeout(ctx, workerJoinWait)
	defer cancel()
	var args []string
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		if args, err = cluster.JobArgs(ctx, driverAddr, sec); err == nil {
			break
		}
		if !errors.Is(err, cluster.ErrUnreachable) || ctx.Err() != nil {
			return fmt.Errorf("sluice: asking the driver at %s for its job: %w", driverAddr, err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("sluice: asking the driver at %s for its job for %v: %w", driverAddr, workerJoinWait, err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	own := []string{roleEnv + "=worker", driverEnv + "=" + driverAddr, keyEnv + "="}
	if sec.Plaintext {
		own = append(own, plainEnv+"=1")
	} else {
		own = append(own, secretEnv+"="+rpc.EncodeSecret(sec.Secret))
	}
	return syscall.Exec(exe, append([]string{exe}, args...), withEnv(os.Environ(), own))
}

// withEnv returns env with the variables of own set (replacing any of the
// same name: Go reads the first of two, so a user's SLUICE_DRIVER would
// otherwise win over --driver).
func withEnv(env, own []string) []string {
	out := slices.Clone(own)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(own, func(o string) bool { return strings.HasPrefix(o, k+"=") }) {
			out = append(out, kv)
		}
	}
	return out
}
