package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// DriverConfig configures the driver's side of a cluster.
type DriverConfig struct {
	// Listen is the address workers connect to ("127.0.0.1:0" picks a
	// free loopback port).
	Listen   string
	Security rpc.Security
	// Fingerprint is the driver's own; workers must match it.
	Fingerprint Fingerprint
	// Heartbeat is how often workers send a heartbeat (default 250ms);
	// a worker silent for WorkerTimeout (default 2s) is declared lost.
	Heartbeat     time.Duration
	WorkerTimeout time.Duration
	// SendQueue bounds the commands waiting to be sent to one worker
	// (default 4096); a full queue fails the launch instead of blocking
	// the driver's event loop.
	SendQueue int
	// Plans returns the encoded plan of input node at batch time t.
	Plans func(node int32, t int64) ([]byte, bool)
	// Args are the job's arguments, given to standalone workers that ask
	// (see JobArgs).
	Args []string
	// Graph, if set, is the driver's own graph: a reserved executor in
	// the driver's process runs on it the stages of datasets only the
	// driver can build (Runtime.Pinned), fetching from the workers.
	Graph runtime.Resolver
	// Blocks configures that executor's block store.
	Blocks  blockstore.Config
	Runtime runtime.Config
	Logger  *slog.Logger
	// OnWorkerLost, if set, is called (on a session's goroutine, so it
	// must not block) after the runtime driver was told a worker is lost.
	OnWorkerLost func(worker string)
}

// executorName is the driver's own executor among the workers.
const executorName = "driver"

func (c *DriverConfig) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 250 * time.Millisecond
	}
	if c.WorkerTimeout <= 0 {
		c.WorkerTimeout = 2 * time.Second
	}
	// The monitor checks four times per timeout; a heartbeat must come
	// well within it.
	c.WorkerTimeout = max(c.WorkerTimeout, 4*time.Millisecond)
	c.Heartbeat = min(c.Heartbeat, c.WorkerTimeout/2)
	if c.SendQueue <= 0 {
		c.SendQueue = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Runtime.Cuts = true
}

// Driver is the driver's side of a cluster: it accepts workers (checking
// their fingerprint), keeps one session stream per worker, sends them the
// runtime driver's commands and delivers their results, heartbeats and
// losses to it.
//
// Goroutines: the gRPC server's (Serve, owned here, stopped by Close); per
// worker session, the gRPC handler goroutine (receiving) and one sender it
// starts and waits for; one monitor that declares silent workers lost.
type Driver struct {
	// Runtime is the engine's driver; its transport is this cluster.
	Runtime *runtime.Driver
	// exec runs pinned stages in this process (nil without Graph); peers
	// is how it fetches from the workers.
	exec  *runtime.Worker
	peers *peerClient

	cfg      DriverConfig
	log      *slog.Logger
	listener net.Listener
	server   *grpc.Server
	serveErr chan error
	quit     chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session
	joined   chan struct{} // closed and replaced when a worker joins
	seq      int
	closed   bool
	first    int64 // first batch time, once the job started
}

// SetFirst tells every worker, present and future, the first batch time.
// Call it before the first batch runs.
func (d *Driver) SetFirst(t int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first = t
	for _, s := range d.sessions {
		s.out <- &toWorker{First: t} // queues are empty before the job starts
	}
}

// session is one connected worker.
type session struct {
	name    string
	addr    string
	slots   int
	pid     int
	out     chan *toWorker
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	seen    time.Time
	beat    heartbeat
	first   int64  // the first batch time when it joined (0: not started)
	tasks   int    // tasks launched on it
	metrics string // its /metrics address
	// draining says the worker is being drained; released, that it was
	// drained and told to stop (its end is no loss).
	draining, released bool
}

// NewDriver listens and starts serving workers.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	cfg.defaults()
	l, err := cfg.Security.Listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	srv, err := cfg.Security.NewServer()
	if err != nil {
		l.Close()
		return nil, err
	}
	d := &Driver{cfg: cfg, log: cfg.Logger, listener: l, server: srv, serveErr: make(chan error, 1),
		quit: make(chan struct{}), sessions: make(map[string]*session), joined: make(chan struct{})}
	d.Runtime = runtime.NewDriver(cfg.Runtime, d)
	d.peers = newPeerClient(cfg.Security) // the executor's fetches, and drains' block copies
	if cfg.Graph != nil {
		d.exec = runtime.NewWorker(runtime.WorkerConfig{Name: executorName, Slots: 1, Blocks: cfg.Blocks, Logger: cfg.Logger},
			cfg.Graph, d.peers, d.Runtime.Report)
		if err := d.Runtime.AddReservedWorker(executorName, 1); err != nil {
			panic("cluster: a new driver refused its executor: " + err.Error())
		}
	}
	svc := rpc.NewService(driverService)
	rpc.Bidi(svc, "Session", d.session)
	rpc.Unary(svc, "Plan", d.plan)
	rpc.Unary(svc, "Block", d.block)
	rpc.Unary(svc, "Job", func(context.Context, *jobReq) (*jobResp, error) { return &jobResp{Args: d.cfg.Args}, nil })
	svc.Register(srv)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.serveErr <- srv.Serve(l)
	}()
	go func() {
		defer d.wg.Done()
		d.monitor()
	}()
	return d, nil
}

// Addr is the address workers connect to.
func (d *Driver) Addr() string { return d.listener.Addr().String() }

// WorkerInfo describes a connected worker.
type WorkerInfo struct {
	Name, Addr   string
	Metrics      string // the worker's /metrics address ("" if none)
	Slots, PID   int
	LastSeen     time.Time
	Blocks       int
	Shuffles     int
	MemoryBytes  int64
	SpilledBytes int64
	Running      int
	// Tasks counts the tasks launched on the worker.
	Tasks int
	// Draining says the worker is being drained (Drain).
	Draining bool
}

// Workers lists the connected workers, by name.
func (d *Driver) Workers() []WorkerInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]WorkerInfo, 0, len(d.sessions))
	for _, s := range d.sessions {
		s.mu.Lock()
		out = append(out, WorkerInfo{Name: s.name, Addr: s.addr, Metrics: s.metrics, Slots: s.slots, PID: s.pid, LastSeen: s.seen,
			Blocks: s.beat.Blocks, Shuffles: s.beat.Shuffles, MemoryBytes: s.beat.MemoryBytes, SpilledBytes: s.beat.SpilledBytes, Running: s.beat.Running, Tasks: s.tasks, Draining: s.draining})
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WaitWorkers blocks until at least n workers are connected, ctx is done
// or the driver closes.
func (d *Driver) WaitWorkers(ctx context.Context, n int) error {
	for {
		d.mu.Lock()
		have, ch := len(d.sessions), d.joined
		d.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("cluster: %d of %d workers connected: %w", have, n, ctx.Err())
		case <-d.quit:
			return errors.New("cluster: driver closed")
		}
	}
}

// Close tells the workers to stop, ends their sessions, stops the server
// and the runtime driver.
func (d *Driver) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for _, s := range d.sessions {
		select {
		case s.out <- &toWorker{Stop: true}:
		default:
		}
	}
	d.mu.Unlock()
	d.Runtime.Close()
	if d.exec != nil {
		d.exec.Close()
	}
	d.peers.close()
	close(d.quit)
	stopped := make(chan struct{})
	go func() { // GracefulStop waits for handlers, which wait for their senders
		d.server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		d.server.Stop()
		<-stopped
	}
	d.wg.Wait()
}

// Launch implements runtime.Transport.
func (d *Driver) Launch(worker string, desc *runtime.TaskDesc) error {
	if worker == executorName && d.exec != nil {
		return d.exec.Launch(desc)
	}
	if err := d.sendTo(worker, &toWorker{Launch: toWire(desc)}); err != nil {
		return err
	}
	d.mu.Lock()
	if s := d.sessions[worker]; s != nil {
		s.mu.Lock()
		s.tasks++
		s.mu.Unlock()
	}
	d.mu.Unlock()
	return nil
}

// Cancel implements runtime.Transport.
func (d *Driver) Cancel(worker string, t scheduler.Task) {
	if worker == executorName && d.exec != nil {
		d.exec.Cancel(t)
		return
	}
	_ = d.sendTo(worker, &toWorker{Cancel: &t})
}

// Free implements runtime.Transport.
func (d *Driver) Free(worker string, ds map[lineage.ID]bool) {
	if worker == executorName && d.exec != nil {
		d.exec.Free(ds)
		return
	}
	ids := make([]lineage.ID, 0, len(ds))
	for id := range ds {
		ids = append(ids, id)
	}
	if err := d.sendTo(worker, &toWorker{Free: ids}); err != nil {
		d.log.Warn("cluster: cannot tell a worker to free datasets", "worker", worker, "err", err)
	}
}

func (d *Driver) sendTo(worker string, m *toWorker) error {
	d.mu.Lock()
	s := d.sessions[worker]
	d.mu.Unlock()
	if s == nil {
		return fmt.Errorf("cluster: worker %s is not connected: %w", worker, runtime.ErrWorkerGone)
	}
	select {
	case s.out <- m:
		return nil
	default:
		return fmt.Errorf("cluster: the send queue of worker %s is full (%d commands)", worker, cap(s.out))
	}
}

// StartReceiver implements runtime.ReceiverTransport.
func (d *Driver) StartReceiver(worker string, spec runtime.ReceiverSpec) {
	m := &toWorker{Receiver: &receiverWire{Node: spec.Node, Incarnation: spec.Incarnation, ReplicateTo: spec.ReplicateTo, Rate: spec.Rate}}
	if err := d.sendTo(worker, m); err != nil {
		d.log.Warn("cluster: cannot start a receiver", "worker", worker, "node", spec.Node, "err", err)
	}
}

// StopReceiver implements runtime.ReceiverTransport.
func (d *Driver) StopReceiver(worker string, node int32) {
	if err := d.sendTo(worker, &toWorker{Receiver: &receiverWire{Node: node, Stop: true}}); err != nil && !errors.Is(err, runtime.ErrWorkerGone) {
		d.log.Warn("cluster: cannot stop a receiver", "worker", worker, "node", node, "err", err)
	}
}

// block registers a block a worker's receiver stored.
func (d *Driver) block(ctx context.Context, req *blockWire) (*blockResp, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	known := d.sessions[req.Worker] != nil
	d.mu.Unlock()
	if !known {
		return nil, fmt.Errorf("cluster: block report from %q, which is not a connected worker", req.Worker)
	}
	err := d.Runtime.ReceivedBlock(ctx, runtime.BlockReport{From: req.Worker, Node: req.Node, Incarnation: req.Incarnation,
		ID: req.ID, Records: req.Records, Workers: req.Workers, Stopped: req.Stopped, Source: req.Source, Error: req.Error})
	if err != nil {
		return nil, err
	}
	return &blockResp{}, nil
}

// Drain drains a connected worker so that it can leave the running job
// (runtime.Driver.DrainWorker: no new tasks, its receivers and the blocks
// only it holds move to other workers, the jobs in flight finish), then
// tells it to stop: its Run returns nil. It returns once the drain began;
// Workers shows the worker as draining until it left. A worker asks for
// this itself on SIGTERM (Worker.Drain).
func (d *Driver) Drain(name string) error {
	d.mu.Lock()
	s := d.sessions[name]
	closed := d.closed
	d.mu.Unlock()
	if s == nil || closed {
		return fmt.Errorf("cluster: no connected worker %q to drain", name)
	}
	s.mu.Lock()
	again := s.draining
	s.draining = true
	s.mu.Unlock()
	if again {
		return nil
	}
	d.log.Info("cluster: draining a worker", "worker", name)
	done, err := d.Runtime.DrainWorker(name)
	if errors.Is(err, runtime.ErrNotDrainable) {
		// The runtime does not know it (yet, or any more): nothing of
		// the job depends on it.
		c := make(chan struct{})
		close(c)
		done, err = c, nil
	}
	if err != nil {
		return err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-done:
		case <-d.quit:
			return
		}
		s.mu.Lock()
		s.released = true
		s.mu.Unlock()
		d.log.Info("cluster: worker drained, releasing it", "worker", name)
		if err := d.sendTo(name, &toWorker{Stop: true}); err != nil {
			d.log.Warn("cluster: cannot release a drained worker", "worker", name, "err", err)
		}
	}()
	return nil
}

// CopyBlocks implements runtime.BlockMover: the draining worker copies
// the blocks to the other workers itself (PutBlock, as for replication),
// at most maxCopies per call.
func (d *Driver) CopyBlocks(ctx context.Context, from string, copies []runtime.BlockCopy) ([]runtime.BlockCopy, error) {
	cc, addr, err := d.peers.conn(from)
	if err != nil {
		return nil, err
	}
	var done []runtime.BlockCopy
	for len(copies) > 0 {
		n := min(len(copies), maxCopies)
		resp, err := rpc.Call[copyReq, copyResp](ctx, cc, workerService, "CopyBlocks", &copyReq{Copies: copies[:n]})
		if err != nil {
			return done, rpc.Explain(err, addr)
		}
		asked := make(map[runtime.BlockCopy]bool, n)
		for _, c := range copies[:n] {
			asked[c] = true
		}
		for _, c := range resp.Done {
			if !asked[c] {
				return done, fmt.Errorf("cluster: worker %s reports a copy it was not asked for: %v", from, c)
			}
			done = append(done, c)
		}
		copies = copies[n:]
	}
	return done, nil
}

// plan serves an input's plan to a worker rebuilding the graph.
func (d *Driver) plan(_ context.Context, req *planReq) (*planResp, error) {
	if d.cfg.Plans == nil {
		return &planResp{}, nil
	}
	b, ok := d.cfg.Plans(req.Node, req.Time)
	return &planResp{Data: b, Found: ok}, nil
}

// session serves one worker from its hello to its end.
func (d *Driver) session(ctx context.Context, recv func() (*toDriver, error), send func(*toWorker) error) error {
	first, err := recv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s, refusal := d.admit(first.Hello, cancel)
	if refusal != "" {
		d.log.Warn("cluster: worker refused", "addr", rpc.PeerAddr(ctx), "reason", refusal)
		return send(&toWorker{Refused: refusal})
	}
	if err := send(&toWorker{Welcome: &welcome{Name: s.name, First: s.first, Heartbeat: int64(d.cfg.Heartbeat)}}); err != nil {
		d.drop(s, err)
		return err
	}
	sendDone := make(chan error, 1)
	go func() { sendDone <- d.sender(ctx, s, send) }()
	d.log.Info("cluster: worker joined", "worker", s.name, "addr", s.addr, "slots", s.slots, "pid", s.pid)
	d.broadcastPeers()
	if err := d.Runtime.AddWorker(s.name, s.slots); err != nil {
		cancel(errors.New("the driver is stopping"))
	}
	// The handler must return for a blocked recv to end (the stream's
	// own context is cancelled then): receive runs on its own goroutine,
	// which ends with the stream.
	recvDone := make(chan error, 1)
	go func() { recvDone <- d.receive(s, recv) }()
	select {
	case err = <-recvDone:
	case <-ctx.Done():
		// A broken connection cancels the stream's context; the monitor
		// and the sender say why they did.
		err = context.Cause(ctx)
		if errors.Is(err, context.Canceled) {
			err = errors.New("the connection broke")
		}
	}
	cancel(nil)
	<-sendDone
	d.drop(s, err)
	return err
}

// admit checks a hello and registers the session, or says why not.
func (d *Driver) admit(h *hello, cancel context.CancelCauseFunc) (*session, string) {
	switch {
	case h == nil:
		return nil, "cluster: the first message of a session must be a hello"
	case h.Slots < 1 || h.Slots > 1024:
		return nil, fmt.Sprintf("cluster: worker offers %d task slots (want 1..1024)", h.Slots)
	case len(h.Name) > maxNameLen || len(h.Addr) > maxNameLen || h.Addr == "" || len(h.Metrics) > maxNameLen:
		return nil, "cluster: malformed worker name or address"
	}
	if diff := d.cfg.Fingerprint.Diff(h.Fingerprint); diff != "" {
		return nil, "cluster: worker refused: " + diff
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, "cluster: the driver is stopping"
	}
	name := h.Name
	if name == "" {
		d.seq++
		name = fmt.Sprintf("worker-%d", d.seq)
		for d.sessions[name] != nil {
			d.seq++
			name = fmt.Sprintf("worker-%d", d.seq)
		}
	} else if d.sessions[name] != nil || name == executorName {
		return nil, fmt.Sprintf("cluster: a worker named %q is already connected", name)
	}
	s := &session{name: name, addr: h.Addr, slots: h.Slots, pid: h.PID, out: make(chan *toWorker, d.cfg.SendQueue), seen: time.Now(), first: d.first, metrics: h.Metrics, cancel: cancel}
	d.sessions[name] = s
	close(d.joined)
	d.joined = make(chan struct{})
	return s, ""
}

// sender writes a session's queued commands to its stream.
func (d *Driver) sender(ctx context.Context, s *session, send func(*toWorker) error) error {
	for {
		select {
		case m := <-s.out:
			if err := send(m); err != nil {
				s.cancel(fmt.Errorf("sending to the worker: %w", err))
				return err
			}
			if m.Stop {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// receive reads heartbeats and results until the stream ends.
func (d *Driver) receive(s *session, recv func() (*toDriver, error)) error {
	for {
		m, err := recv()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.seen = time.Now()
		if m.Heartbeat != nil {
			s.beat = *m.Heartbeat
		}
		s.mu.Unlock()
		if m.Result != nil {
			d.Runtime.Report(resultFromWire(s.name, m.Result))
		}
		if m.Drain {
			if err := d.Drain(s.name); err != nil {
				d.log.Warn("cluster: cannot drain a worker", "worker", s.name, "err", err)
			}
		}
	}
}

// drop forgets a session and tells the runtime the worker is lost.
func (d *Driver) drop(s *session, why error) {
	d.mu.Lock()
	if d.sessions[s.name] != s {
		d.mu.Unlock()
		return
	}
	delete(d.sessions, s.name)
	closed := d.closed
	d.mu.Unlock()
	s.mu.Lock()
	released := s.released
	s.mu.Unlock()
	if !closed && released {
		d.log.Info("cluster: drained worker left", "worker", s.name)
		d.broadcastPeers()
	} else if !closed {
		d.log.Warn("cluster: worker lost", "worker", s.name, "err", why)
		_ = d.Runtime.WorkerLost(s.name)
		d.broadcastPeers()
		if d.cfg.OnWorkerLost != nil {
			d.cfg.OnWorkerLost(s.name)
		}
	}
}

// broadcastPeers tells every worker where the others serve.
func (d *Driver) broadcastPeers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	peers := make(map[string]string, len(d.sessions))
	for _, s := range d.sessions {
		peers[s.name] = s.addr
	}
	if d.peers != nil {
		d.peers.set(peers)
	}
	for _, s := range d.sessions {
		select {
		case s.out <- &toWorker{Peers: peers}:
		default:
			d.log.Warn("cluster: send queue full, peers not updated", "worker", s.name)
		}
	}
}

// monitor declares lost the workers that stopped sending heartbeats.
func (d *Driver) monitor() {
	t := time.NewTicker(d.cfg.WorkerTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.quit:
			return
		}
		d.mu.Lock()
		var silent []*session
		for _, s := range d.sessions {
			s.mu.Lock()
			if time.Since(s.seen) > d.cfg.WorkerTimeout {
				silent = append(silent, s)
			}
			s.mu.Unlock()
		}
		d.mu.Unlock()
		for _, s := range silent {
			d.log.Warn("cluster: no heartbeat", "worker", s.name, "timeout_ms", d.cfg.WorkerTimeout.Milliseconds())
			if s.cancel != nil {
				s.cancel(fmt.Errorf("no heartbeat for %v", d.cfg.WorkerTimeout)) // its handler returns and drops it
			}
		}
	}
}
