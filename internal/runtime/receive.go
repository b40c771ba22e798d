package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Push receivers (DESIGN.md section 4) run on workers. The driver assigns
// each receiver to a live worker and moves it when that worker is lost.
// The receiver cuts what it reads into blocks; each block is stored in the
// worker's block store, copied to a second worker, and registered with the
// driver before the receiver acknowledges its sender. A batch's input is
// the blocks registered since the previous batch.

// ReceiverSpec tells a worker to run the push receiver of an input node.
type ReceiverSpec struct {
	Node int32
	// Incarnation numbers the receiver's starts, the driver's epoch in
	// its high bits: block IDs carry it, and the driver refuses the blocks
	// of any incarnation but the current one.
	Incarnation int32
	// ReplicateTo lists the workers a block may be copied to, in order of
	// preference (the first that takes it holds the copy).
	ReplicateTo []string
	// Rate is the most records per second the receiver may take (0: no
	// limit): backpressure's estimate or a static maximum, which the
	// driver updates by sending the spec again.
	Rate float64
}

// ReceiveFunc runs a push receiver until ctx is done, handing each block
// it cuts to r.Put.
type ReceiveFunc func(ctx context.Context, r *Receiving)

// Receivers is a Resolver whose graph has push receivers.
type Receivers interface {
	Receiver(node int32) (ReceiveFunc, error)
}

// ReceiverTransport is a Transport that can start and stop receivers on
// its workers.
type ReceiverTransport interface {
	StartReceiver(worker string, spec ReceiverSpec)
	StopReceiver(worker string, node int32)
}

// BlockReport tells the driver that a receiver stored a block, or (Stopped)
// that it stopped after storing its last one.
type BlockReport struct {
	From        string // the worker running the receiver
	Node        int32
	Incarnation int32
	ID          lineage.ID // the block's dataset (one partition)
	Records     int
	Workers     []string // the workers holding it
	Stopped     bool
	// Error, if set, is an input error the receiver skipped past (a
	// malformed record, a lost connection), from Source: the driver
	// reports it to the job (no block then).
	Source, Error string
}

// ReceivedID is the ID of the one-partition dataset of a received block:
// the input node, the receiver's incarnation and a time unique within
// it. Its Seq is negative, which no scope allocates.
func ReceivedID(node, incarnation int32, t int64) lineage.ID {
	return lineage.ID{Node: node, Time: t, Seq: -1 - incarnation}
}

// IsReceived reports whether id names a received block.
func IsReceived(id lineage.ID) bool { return id.Seq < 0 }

// ReceivedIncarnation returns the incarnation of a received block's ID.
func ReceivedIncarnation(id lineage.ID) int32 { return -1 - id.Seq }

// ErrReceiverStale is returned by Receiving.Put when the driver moved the
// receiver elsewhere (or stopped it): the block is not part of the input.
var ErrReceiverStale = errors.New("runtime: receiver superseded")

// Receiving is a running receiver's side of the worker.
type Receiving struct {
	w    *Worker
	spec ReceiverSpec
	stop context.CancelFunc // ends the receiver

	mu      sync.Mutex
	targets []string
	rate    float64 // see ReceiverSpec.Rate
	last    int64   // the time of the last block ID handed out
	warned  bool
}

// Node returns the receiver's input node.
func (r *Receiving) Node() int32 { return r.spec.Node }

// NextID returns the ID of the next block.
func (r *Receiving) NextID() lineage.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := max(time.Now().UnixNano(), r.last+1)
	r.last = t
	return ReceivedID(r.spec.Node, r.spec.Incarnation, t)
}

func (r *Receiving) setTargets(ts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = append([]string(nil), ts...)
}

func (r *Receiving) setRate(rate float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rate = rate
}

// Rate returns the most records per second the receiver may take now (0:
// no limit). The driver changes it as it goes (see ReceiverSpec.Rate).
func (r *Receiving) Rate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate
}

// Put stores block id (a partition of the input's record type) on this
// worker, copies it to another worker, and registers it with the driver.
// When it returns nil the block is part of the input: the receiver may
// acknowledge its sender.
func (r *Receiving) Put(ctx context.Context, id lineage.ID, part any) error {
	w := r.w
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return fmt.Errorf("runtime: worker %s is closed", w.Name)
	}
	ds, err := w.resolver.Lookup(id)
	if err != nil {
		return err
	}
	bid := blockstore.ID{Dataset: id, Part: 0}
	if err := w.Blocks.Put(bid, part, ds.Type); err != nil {
		if errors.Is(err, blockstore.ErrClosed) {
			return err
		}
		w.log.Warn("runtime: block store over budget", "worker", w.Name, "err", err)
	}
	locs := []string{w.Name}
	r.mu.Lock()
	targets := r.targets
	r.mu.Unlock()
	for _, peer := range targets {
		if peer == w.Name {
			continue
		}
		if err := w.peers.Replicate(ctx, peer, ds, 0, part); err != nil {
			w.log.Warn("runtime: cannot replicate a received block", "worker", w.Name, "to", peer, "block", id, "err", err)
			continue
		}
		locs = append(locs, peer)
		break
	}
	if len(locs) == 1 {
		r.mu.Lock()
		if !r.warned {
			w.log.Warn("runtime: received blocks have no second copy: no other worker took one", "worker", w.Name, "node", r.spec.Node)
			r.warned = true
		}
		r.mu.Unlock()
	}
	err = w.addBlock(ctx, BlockReport{From: w.Name, Node: r.spec.Node, Incarnation: r.spec.Incarnation,
		ID: id, Records: ds.Type.Len(part), Workers: locs})
	if err != nil {
		w.Blocks.Remove(map[lineage.ID]bool{id: true})
		if errors.Is(err, ErrReceiverStale) || strings.Contains(err.Error(), ErrReceiverStale.Error()) {
			// The driver runs this receiver elsewhere now (it lost this
			// worker for a while): this one ends.
			w.log.Warn("runtime: receiver superseded: stopping it", "worker", w.Name, "node", r.spec.Node)
			r.stop()
		}
	}
	return err
}

// Report tells the driver about an input error the receiver skipped past.
func (r *Receiving) Report(ctx context.Context, source string, err error) error {
	return r.w.addBlock(ctx, BlockReport{From: r.w.Name, Node: r.spec.Node, Incarnation: r.spec.Incarnation,
		Source: source, Error: err.Error()})
}

// receiver is a receiver running on a worker.
type receiver struct {
	r      *Receiving
	cancel context.CancelFunc
	done   chan struct{}
}

// StartReceiver runs the receiver spec names, or, if it already runs with
// the same incarnation, updates where its blocks are copied to. A
// receiver of the same node from another incarnation is stopped first.
func (w *Worker) StartReceiver(spec ReceiverSpec) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("runtime: worker %s is closed", w.Name)
	}
	if old := w.receivers[spec.Node]; old != nil {
		if old.r.spec.Incarnation == spec.Incarnation {
			old.r.setTargets(spec.ReplicateTo)
			old.r.setRate(spec.Rate)
			return nil
		}
		old.cancel()
		delete(w.receivers, spec.Node)
	}
	rs, ok := w.resolver.(Receivers)
	if !ok {
		return fmt.Errorf("runtime: worker %s's graph has no receivers", w.Name)
	}
	run, err := rs.Receiver(spec.Node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiving{w: w, spec: spec, stop: cancel}
	r.setTargets(spec.ReplicateTo)
	r.setRate(spec.Rate)
	rc := &receiver{r: r, cancel: cancel, done: make(chan struct{})}
	w.receivers[spec.Node] = rc
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(rc.done)
		run(ctx, r)
		// The last block is stored: tell the driver, unless the whole
		// worker is closing (the driver then sees it lost instead).
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if !closed {
			rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = w.addBlock(rctx, BlockReport{From: w.Name, Node: spec.Node, Incarnation: spec.Incarnation, Stopped: true})
			rcancel()
		}
	}()
	return nil
}

// StopReceiver stops a node's receiver: it stores the block it was
// cutting, then reports that it stopped. It does not wait.
func (w *Worker) StopReceiver(node int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rc := w.receivers[node]; rc != nil {
		rc.cancel()
		delete(w.receivers, node)
	}
}

// ReceiverNodes lists the nodes whose receivers run here.
func (w *Worker) ReceiverNodes() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int32, 0, len(w.receivers))
	for n := range w.receivers {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (w *Worker) addBlock(ctx context.Context, rep BlockReport) error {
	if w.blocks == nil {
		return errors.New("runtime: this worker cannot register received blocks")
	}
	return w.blocks(ctx, rep)
}

// Driver side.

// recvState is where a receiver runs.
type recvState struct {
	worker      string // "" while no worker runs it
	incarnation int32
	targets     []string
	stopped     bool
	// retiring lists former incarnations moved off a draining worker
	// that have not said they stopped: their blocks are still taken.
	retiring []retired
}

// retired is a receiver incarnation told to stop on a draining worker.
type retired struct {
	worker      string
	incarnation int32
}

type recvStartReq struct{ nodes []int32 }
type recvStopReq struct{ reply chan map[int32]bool }
type recvRateReq struct {
	node int32
	rate float64
}
type blockReq struct {
	rep   BlockReport
	reply chan error
}

// StartReceivers has the driver run the receivers of the given input
// nodes on its workers, for as long as it runs, moving each to another
// worker when its worker is lost. onBlock receives every block registered
// (on the driver's event loop: it must not block).
func (d *Driver) StartReceivers(nodes []int32) error {
	return d.send(recvStartReq{nodes})
}

// StopReceivers tells the receivers to stop and waits until each stored
// its last block and said so, or ctx is done. It returns the nodes whose
// receivers did not confirm.
func (d *Driver) StopReceivers(ctx context.Context) []int32 {
	deadline := time.Now().Add(time.Hour)
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl
	}
	for {
		reply := make(chan map[int32]bool, 1)
		if d.send(recvStopReq{reply}) != nil {
			return nil
		}
		var pending map[int32]bool
		select {
		case pending = <-reply:
		case <-d.quit:
			return nil
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			out := make([]int32, 0, len(pending))
			for n := range pending {
				out = append(out, n)
			}
			sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
			return out
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// SetReceiverRate holds node's receiver to rate records per second (0: no
// limit), wherever it runs now or later: the driver sends the running
// receiver its spec again with the new rate.
func (d *Driver) SetReceiverRate(node int32, rate float64) error {
	return d.send(recvRateReq{node, rate})
}

// ReceivedBlock registers a block a receiver stored, if the receiver is
// the node's current one (else ErrReceiverStale).
func (d *Driver) ReceivedBlock(ctx context.Context, rep BlockReport) error {
	reply := make(chan error, 1)
	if err := d.send(blockReq{rep, reply}); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.quit:
		return ErrStopped
	}
}

// Receivers returns where each receiver runs ("" if nowhere yet).
func (d *Driver) Receivers() map[int32]string {
	return d.Stats().Receivers
}

func (d *Driver) receiverEvent(ev any) {
	switch e := ev.(type) {
	case recvStartReq:
		for _, n := range e.nodes {
			if d.recv[n] == nil {
				d.recv[n] = &recvState{}
			}
		}
		d.placeReceivers()
	case recvStopReq:
		pending := make(map[int32]bool)
		for n, rs := range d.recv {
			if !rs.stopped && rs.worker != "" {
				if !d.recvStopping {
					d.stopReceiver(rs, n)
				}
				pending[n] = true
			}
		}
		d.recvStopping = true
		e.reply <- pending
	case blockReq:
		e.reply <- d.receivedBlock(e.rep)
	case recvRateReq:
		d.setReceiverRate(e.node, e.rate)
	}
}

// setReceiverRate records a receiver's rate and tells it, if it runs.
func (d *Driver) setReceiverRate(n int32, rate float64) {
	if d.recvRate == nil {
		d.recvRate = make(map[int32]float64)
	}
	if d.recvRate[n] == rate {
		return
	}
	d.recvRate[n] = rate
	rs := d.recv[n]
	rt, ok := d.transport.(ReceiverTransport)
	if rs == nil || rs.worker == "" || rs.stopped || d.recvStopping || !ok {
		return // placeReceivers passes it on when it starts the receiver
	}
	rt.StartReceiver(rs.worker, ReceiverSpec{Node: n, Incarnation: rs.incarnation, ReplicateTo: rs.targets, Rate: rate})
}

func (d *Driver) stopReceiver(rs *recvState, n int32) {
	if rt, ok := d.transport.(ReceiverTransport); ok {
		rt.StopReceiver(rs.worker, n)
	}
}

func (d *Driver) receivedBlock(rep BlockReport) error {
	rs := d.recv[rep.Node]
	retiring := -1
	if rs != nil {
		for i, r := range rs.retiring {
			if r.worker == rep.From && r.incarnation == rep.Incarnation {
				retiring = i
			}
		}
	}
	if rs == nil || retiring < 0 && (rs.worker != rep.From || rs.incarnation != rep.Incarnation) {
		return fmt.Errorf("%w: node %d's receiver incarnation %d on %s", ErrReceiverStale, rep.Node, rep.Incarnation, rep.From)
	}
	if rep.Stopped && retiring >= 0 {
		rs.retiring = append(rs.retiring[:retiring], rs.retiring[retiring+1:]...)
		return nil
	}
	if rep.Stopped {
		rs.stopped = true
		return nil
	}
	if rep.Error != "" {
		if d.cfg.OnBlock != nil {
			d.cfg.OnBlock(rep)
		}
		return nil
	}
	if !IsReceived(rep.ID) || rep.ID.Node != rep.Node || ReceivedIncarnation(rep.ID) != rep.Incarnation {
		return fmt.Errorf("runtime: block %v is not one of node %d's receiver %d", rep.ID, rep.Node, rep.Incarnation)
	}
	for _, w := range rep.Workers {
		if _, live := d.workers[w]; live {
			d.addBlock(blockstore.ID{Dataset: rep.ID, Part: 0}, w)
		}
	}
	if d.cfg.OnBlock != nil {
		d.cfg.OnBlock(rep)
	}
	return nil
}

// placeReceivers starts each receiver that runs nowhere on the live worker
// running the fewest, and tells the others where to copy their blocks.
func (d *Driver) placeReceivers() {
	if len(d.recv) == 0 || d.recvStopping {
		return
	}
	rt, ok := d.transport.(ReceiverTransport)
	if !ok {
		return
	}
	names := d.stayingWorkers()
	if len(names) == 0 {
		return
	}
	load := make(map[string]int)
	nodes := make([]int32, 0, len(d.recv))
	for n, rs := range d.recv {
		nodes = append(nodes, n)
		if rs.worker != "" {
			load[rs.worker]++
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })
	for _, n := range nodes {
		rs := d.recv[n]
		if rs.stopped {
			continue
		}
		moved := false
		if rs.worker == "" {
			best := names[0]
			for _, w := range names[1:] {
				if load[w] < load[best] {
					best = w
				}
			}
			load[best]++
			d.recvSeq++
			rs.worker, rs.incarnation, moved = best, int32(d.cfg.Scheduler.Epoch&0x7fff)<<16|d.recvSeq&0xffff, true
		}
		targets := d.replicaTargets(rs.worker, int(n))
		if moved || !equalStrings(targets, rs.targets) {
			rs.targets = targets
			rt.StartReceiver(rs.worker, ReceiverSpec{Node: n, Incarnation: rs.incarnation, ReplicateTo: targets, Rate: d.recvRate[n]})
		}
	}
}

// receiverLost clears the receivers of a lost worker (placeReceivers then
// starts them elsewhere).
func (d *Driver) receiverLost(name string) {
	for n, rs := range d.recv {
		rs.retiring = slices.DeleteFunc(rs.retiring, func(r retired) bool { return r.worker == name })
		if rs.worker == name {
			// Should the worker still run (lost by a timeout), its
			// receiver stops; its blocks are refused meanwhile.
			d.stopReceiver(rs, n)
			rs.worker, rs.targets = "", nil
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
