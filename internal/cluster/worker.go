package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
)

// WorkerConfig configures a worker process's side of a cluster.
type WorkerConfig struct {
	// Driver is the driver's address.
	Driver string
	// Name is the name to register under ("" : the driver picks one).
	Name string
	// Listen is where to serve shuffle outputs and blocks to other
	// workers. Default: "127.0.0.1:0" when the driver is on loopback,
	// else ":0" (every interface: workers on other hosts fetch here).
	Listen string
	// Advertise is the address other workers reach this one at. Default:
	// the listener's address, or, when it listens on every interface, the
	// local address this host reaches the driver from, with the
	// listener's port.
	Advertise string
	Slots     int
	Security  rpc.Security
	// Fingerprint is this worker's; the driver refuses a mismatch.
	Fingerprint Fingerprint
	// Graph resolves task descriptors in this process's copy of the
	// stream graph. It may also be a runtime.Forgetter.
	Graph  runtime.Resolver
	Blocks blockstore.Config
	// Metrics, if set, is the address of the worker's /metrics endpoint
	// ("127.0.0.1:0" picks a port).
	Metrics string
	// Welcome is called with the first batch time (Unix nanoseconds)
	// before any task runs.
	Welcome func(first int64)
	Logger  *slog.Logger
	// Straggle makes this worker a straggler (a testing aid).
	Straggle runtime.Straggle
}

// Worker is a worker process's side of a cluster: its session with the
// driver, its runtime worker, and the service other workers fetch shuffle
// outputs and blocks from.
//
// Goroutines: the gRPC server's Serve (stopped by Close); in Run, one
// receiver of the driver's commands and one heartbeat sender, both
// waited for; one goroutine per running task (runtime.Worker).
type Worker struct {
	cfg      WorkerConfig
	log      *slog.Logger
	listener net.Listener
	server   *grpc.Server
	driver   *grpc.ClientConn
	runtime  *runtime.Worker
	serveWG  sync.WaitGroup

	*peerClient // fetches from the other workers (runtime.Peers)

	mu   sync.Mutex
	name string
	// results carries task results to the session stream (bounded: a
	// full queue blocks the task goroutine, which is the backpressure).
	results chan runtime.TaskResult
	metrics *metrics.Server
	// closing is closed by Close: results are dropped from then on (the
	// channel itself is never closed, so late reporters cannot panic).
	closing   chan struct{}
	closeOnce sync.Once
	// served counts shuffle and block bytes sent to other workers.
	served atomic.Int64
	// drain carries a request to be drained to the session (see Drain).
	drain chan struct{}
}

// NewWorker listens for peers and dials the driver (lazily: errors show
// in Run).
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
		if !loopback(cfg.Driver) {
			cfg.Listen = ":0"
		}
	}
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, err := processFailpoints(); err != nil { // a testing aid (failpoint.go)
		return nil, err
	}
	l, err := cfg.Security.Listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	if cfg.Advertise == "" {
		if cfg.Advertise, err = advertised(l.Addr(), cfg.Driver); err != nil {
			l.Close()
			return nil, err
		}
	}
	srv, err := cfg.Security.NewServer()
	if err != nil {
		l.Close()
		return nil, err
	}
	cc, err := cfg.Security.Dial(cfg.Driver)
	if err != nil {
		l.Close()
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, listener: l, server: srv, driver: cc,
		peerClient: newPeerClient(cfg.Security),
		results:    make(chan runtime.TaskResult, 1024), closing: make(chan struct{}), drain: make(chan struct{}, 1)}
	w.runtime = runtime.NewWorker(runtime.WorkerConfig{Slots: cfg.Slots, Blocks: cfg.Blocks, Logger: cfg.Logger, AddBlock: w.addBlock,
		Straggle: cfg.Straggle},
		cfg.Graph, w, w.report)
	w.runtime.Shuffle.SetCompact(true) // older batches' outputs are kept for recovery only
	svc := rpc.NewService(workerService)
	rpc.ServerStream(svc, "Fetch", w.serveFetch)
	rpc.Unary(svc, "PutBlock", w.servePutBlock)
	rpc.Unary(svc, "CopyBlocks", w.serveCopyBlocks)
	svc.Register(srv)
	if cfg.Metrics != "" {
		if w.metrics, err = metrics.Serve(cfg.Metrics, w.metricsHandler()); err != nil {
			l.Close()
			cc.Close()
			return nil, err
		}
	}
	w.serveWG.Add(1)
	go func() {
		defer w.serveWG.Done()
		_ = srv.Serve(l)
	}()
	return w, nil
}

// Addr is where this worker serves its peers.
func (w *Worker) Addr() string {
	if w.cfg.Advertise != "" {
		return w.cfg.Advertise
	}
	return w.listener.Addr().String()
}

// Plan fetches an input's plan of batch t from the driver.
func (w *Worker) Plan(ctx context.Context, node int32, t int64) ([]byte, error) {
	resp, err := rpc.Call[planReq, planResp](ctx, w.driver, driverService, "Plan", &planReq{Node: node, Time: t})
	if err != nil {
		return nil, rpc.Explain(err, w.cfg.Driver)
	}
	if !resp.Found {
		return nil, fmt.Errorf("cluster: the driver has no plan for input node %d at %d", node, t)
	}
	return resp.Data, nil
}

// JobArgs asks the driver at addr for its job's arguments: a standalone
// worker runs the same program with them, so that it builds the same graph.
func JobArgs(ctx context.Context, addr string, sec rpc.Security) ([]string, error) {
	cc, err := sec.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	resp, err := rpc.Call[jobReq, jobResp](ctx, cc, driverService, "Job", &jobReq{})
	if err != nil {
		err = rpc.Explain(err, addr)
		if strings.Contains(err.Error(), "connection refused") {
			err = fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return nil, err
	}
	return resp.Args, nil
}

// ErrUnreachable says nothing listens at the driver's address (yet).
var ErrUnreachable = errors.New("cluster: driver unreachable")

// ErrRefused is returned by Run when the driver refused this worker.
var ErrRefused = errors.New("cluster: refused by the driver")

// Run registers with the driver and serves its commands until the driver
// says stop (nil), refuses the worker (ErrRefused), the session breaks or
// ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := rpc.OpenBidi[toDriver, toWorker](ctx, w.driver, driverService, "Session")
	if err != nil {
		return rpc.Explain(err, w.cfg.Driver)
	}
	h := &hello{Name: w.cfg.Name, Addr: w.Addr(), Slots: w.cfg.Slots, PID: os.Getpid(), Fingerprint: w.cfg.Fingerprint}
	if w.metrics != nil {
		h.Metrics = w.metrics.Addr()
	}
	if err := stream.Send(&toDriver{Hello: h}); err != nil {
		return rpc.Explain(err, w.cfg.Driver)
	}
	m, err := stream.Recv()
	if err != nil {
		return rpc.Explain(err, w.cfg.Driver)
	}
	if m.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, m.Refused)
	}
	if m.Welcome == nil {
		return errors.New("cluster: the driver did not welcome this worker")
	}
	w.mu.Lock()
	w.name = m.Welcome.Name
	w.mu.Unlock()
	w.runtime.Name = m.Welcome.Name
	if w.cfg.Welcome != nil && m.Welcome.First != 0 {
		w.cfg.Welcome(m.Welcome.First)
	}
	w.log.Info("cluster: joined the driver", "worker", m.Welcome.Name, "addr", w.cfg.Driver)
	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendErr <- w.send(ctx, stream, durationOf(m.Welcome.Heartbeat))
	}()
	err = w.commands(stream)
	cancel()
	wg.Wait()
	if err == nil {
		return nil
	}
	if serr := <-sendErr; serr != nil && !errors.Is(serr, context.Canceled) {
		err = serr
	}
	return fmt.Errorf("cluster: session with the driver at %s ended: %w", w.cfg.Driver, rpc.Explain(err, w.cfg.Driver))
}

// commands carries out the driver's commands until Stop or an error.
func (w *Worker) commands(stream *rpc.BidiStream[toDriver, toWorker]) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case m.Stop:
			return nil
		case m.Launch != nil:
			d, err := fromWire(m.Launch)
			if err != nil {
				return err
			}
			if err := w.runtime.Launch(d); err != nil {
				select {
				case <-w.closing: // end the session: the driver reruns its tasks elsewhere
					return fmt.Errorf("cluster: worker closing: %w", err)
				default:
				}
				w.report(runtime.TaskResult{Task: d.Task, Worker: w.runtime.Name, Err: err})
			} else {
				w.launched(d) // a testing aid (failpoint.go)
			}
		case m.Cancel != nil:
			w.runtime.Cancel(*m.Cancel)
		case m.Free != nil:
			set := make(map[lineage.ID]bool, len(m.Free))
			for _, id := range m.Free {
				set[id] = true
			}
			w.runtime.Free(set)
		case m.Receiver != nil:
			r := m.Receiver
			if err := r.check(); err != nil {
				return err
			}
			if r.Stop {
				w.runtime.StopReceiver(r.Node)
			} else if err := w.runtime.StartReceiver(runtime.ReceiverSpec{Node: r.Node, Incarnation: r.Incarnation, ReplicateTo: r.ReplicateTo, Rate: r.Rate}); err != nil {
				w.log.Error("cluster: cannot start a receiver", "worker", w.runtime.Name, "node", r.Node, "err", err)
			}
		case m.Peers != nil:
			w.setPeers(m.Peers)
		case m.First != 0:
			if w.cfg.Welcome != nil {
				w.cfg.Welcome(m.First)
			}
		}
	}
}

// send writes results and heartbeats to the driver.
func (w *Worker) send(ctx context.Context, stream *rpc.BidiStream[toDriver, toWorker], every time.Duration) error {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var m toDriver
		select {
		case r := <-w.results:
			m.Result = resultToWire(r)
		case <-w.drain:
			m.Drain = true
			w.log.Info("cluster: asking the driver to drain this worker", "worker", w.runtime.Name)
		case <-t.C:
			st := w.runtime.Blocks.Stats()
			m.Heartbeat = &heartbeat{Blocks: st.Blocks, Shuffles: w.runtime.Shuffle.Len(), MemoryBytes: st.MemoryBytes, SpilledBytes: st.SpilledBytes, Running: w.runtime.Running()}
		case <-ctx.Done():
			return stream.CloseSend()
		}
		if err := stream.Send(&m); err != nil {
			return err
		}
	}
}

// Drain asks the driver to drain this worker, as on SIGTERM: it gets no
// new task, its blocks and receivers move to other workers, and once the
// driver released it Run returns nil. Meanwhile it serves as usual (its
// running tasks, fetches and block reads). Calls after the first one
// change nothing.
func (w *Worker) Drain() {
	select {
	case w.drain <- struct{}{}:
	default:
	}
}

// serveCopyBlocks copies blocks this worker holds to other workers, for
// the driver draining it.
func (w *Worker) serveCopyBlocks(ctx context.Context, req *copyReq) (*copyResp, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	return &copyResp{Done: w.runtime.CopyBlocks(ctx, req.Copies)}, nil
}

// addBlock registers a block a receiver stored with the driver.
func (w *Worker) addBlock(ctx context.Context, rep runtime.BlockReport) error {
	_, err := rpc.Call[blockWire, blockResp](ctx, w.driver, driverService, "Block", &blockWire{Worker: rep.From, Node: rep.Node,
		Incarnation: rep.Incarnation, ID: rep.ID, Records: rep.Records, Workers: rep.Workers, Stopped: rep.Stopped,
		Source: truncate(rep.Source, maxReportLen), Error: truncate(rep.Error, maxReportLen)})
	if err != nil {
		return rpc.Explain(err, w.cfg.Driver)
	}
	return nil
}

// truncate shortens s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// report queues a task's result for the driver, or drops it once the
// worker is closing.
func (w *Worker) report(r runtime.TaskResult) {
	select {
	case w.results <- r:
	case <-w.closing:
	}
}

// Close stops the tasks, the peer service and the connections. It may be
// called while Run runs (Run then ends with an error).
func (w *Worker) Close() {
	w.closeOnce.Do(w.close)
}

func (w *Worker) close() {
	close(w.closing)
	w.runtime.Close()
	w.server.Stop()
	w.serveWG.Wait()
	if w.metrics != nil {
		w.metrics.Close()
	}
	w.driver.Close()
	w.peerClient.close()
}

func (w *Worker) setPeers(p map[string]string) { w.peerClient.set(p) }

func (w *Worker) metricsHandler() http.Handler {
	f := func(v func() int64) func() float64 { return func() float64 { return float64(v()) } }
	return metrics.WorkerHandler(metrics.WorkerGauges{
		RunningTasks:   f(func() int64 { return int64(w.runtime.Running()) }),
		Blocks:         f(func() int64 { return int64(w.runtime.Blocks.Stats().Blocks) }),
		MemoryBytes:    f(func() int64 { return w.runtime.Blocks.Stats().MemoryBytes }),
		SpilledBytes:   f(func() int64 { return w.runtime.Blocks.Stats().SpilledBytes }),
		ShuffleOutputs: f(func() int64 { return int64(w.runtime.Shuffle.Len()) }),
		TasksRun:       f(func() int64 { run, _, _ := w.runtime.Counters(); return run }),
		TasksFailed:    f(func() int64 { _, failed, _ := w.runtime.Counters(); return failed }),
		Records:        f(func() int64 { _, _, n := w.runtime.Counters(); return n }),
		BytesFetched:   f(w.fetched.Load),
		BytesServed:    f(w.served.Load),
	})
}

// loopback reports whether addr's host is a loopback address or
// "localhost".
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// advertised is the address other workers reach a listener on l at: l
// itself, unless it listens on every interface; then the local address
// this host routes to the driver from (a UDP socket's, which sends
// nothing), with l's port.
func advertised(l net.Addr, driver string) (string, error) {
	tcp, ok := l.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return l.String(), nil
	}
	c, err := net.Dial("udp", driver)
	if err != nil {
		return "", fmt.Errorf("cluster: finding the address workers reach this one at (set the worker's advertised address): %w", err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port)), nil
}
