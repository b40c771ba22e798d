package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Draining: a worker leaves a running job without losing anything
// (DESIGN.md section 4, elasticity). DrainWorker runs these steps on the
// event loop, each when the one before is over:
//
//  1. The scheduler gives the worker no new task (scheduler.DrainWorker);
//     the receivers it runs move to other workers at once (the old ones
//     stop, store their last block and report it: their blocks are taken
//     until they stop); replicas go to the other workers only.
//  2. Wait until its running attempts ended and the jobs that were active
//     when the drain began (the batch in flight) ended, so that their map
//     outputs on the worker are not lost mid-job; at most Config.DrainWait.
//  3. Copy every cached block only it holds (state partitions, persisted
//     datasets, received blocks) to another live worker that does not
//     drain, through the transport (BlockMover), and register the copies.
//  4. Remove it as lost (its map outputs, which later jobs may recompute,
//     are forgotten) and close the channel DrainWorker returned: the
//     worker may go.

// DefaultDrainWait is Config.DrainWait's default.
const DefaultDrainWait = 30 * time.Second

// BlockMover is a Transport that can have a worker copy blocks it holds to
// other workers (Worker.CopyBlocks on that worker). Without it a drained
// worker's blocks are not copied: what needs them recomputes them.
type BlockMover interface {
	// CopyBlocks has worker from copy each block to its Worker and
	// returns the copies made; it returns when done or ctx is done.
	CopyBlocks(ctx context.Context, from string, copies []BlockCopy) ([]BlockCopy, error)
}

// ErrNotDrainable is returned (wrapped) by DrainWorker for a worker that is
// not live, or that is the driver's own reserved executor.
var ErrNotDrainable = errors.New("runtime: no such worker to drain")

// drainState is a worker's drain in progress.
type drainState struct {
	done chan struct{} // closed when the worker is released (or lost)
	// jobs are the jobs active when the drain began: the worker is kept
	// until they end (or until), so their map outputs stay readable.
	jobs    map[scheduler.JobID]bool
	until   time.Time
	copying bool // step 3 runs
}

type drainReq struct {
	name  string
	reply chan drainReply
}

type drainReply struct {
	done <-chan struct{}
	err  error
}

// copiedReq reports the copies a drain made (step 3).
type copiedReq struct {
	name   string
	copies []BlockCopy
	want   int
	err    error
}

// DrainWorker starts draining a worker that is to leave (see the steps
// above). The channel is closed once the worker is drained and removed,
// or lost meanwhile: nothing of the job depends on it from then on. A
// second call for the same worker returns the same channel.
func (d *Driver) DrainWorker(name string) (<-chan struct{}, error) {
	reply := make(chan drainReply, 1)
	if err := d.send(drainReq{name, reply}); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		return r.done, r.err
	case <-d.quit:
		return nil, ErrStopped
	}
}

func (d *Driver) startDrain(name string) drainReply {
	if ds := d.draining[name]; ds != nil {
		return drainReply{done: ds.done}
	}
	if _, ok := d.workers[name]; !ok || d.reserved[name] {
		return drainReply{err: fmt.Errorf("%w: %q", ErrNotDrainable, name)}
	}
	ds := &drainState{done: make(chan struct{}), jobs: make(map[scheduler.JobID]bool, len(d.jobs)),
		until: time.Now().Add(d.cfg.DrainWait)}
	for id := range d.jobs {
		ds.jobs[id] = true
	}
	d.draining[name] = ds
	d.stats.Drains++
	d.step(scheduler.DrainWorker{Worker: scheduler.WorkerID(name)})
	d.retireReceivers(name)
	d.placeReceivers()
	d.advanceDrains()
	return drainReply{done: ds.done}
}

// advanceDrains moves every drain in progress to its next step if it can.
// The loop calls it after every event and tick while drains are active.
func (d *Driver) advanceDrains() {
	for name, ds := range d.draining {
		if _, live := d.workers[name]; !live {
			delete(d.draining, name) // lost meanwhile: nothing more to wait for
			close(ds.done)
			continue
		}
		if ds.copying || d.drainBusy(name, ds) {
			continue
		}
		copies := d.drainCopies(name)
		mover, ok := d.transport.(BlockMover)
		if len(copies) == 0 || !ok {
			d.release(name, ds)
			continue
		}
		ds.copying = true
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			done, err := mover.CopyBlocks(d.bgCtx, name, copies)
			_ = d.send(copiedReq{name: name, copies: done, want: len(copies), err: err})
		}()
	}
}

// drainBusy says whether a draining worker must be kept for now: an
// attempt runs on it, or (until ds.until) a job of the batch in flight
// has not ended or one of its former receivers has not stopped.
func (d *Driver) drainBusy(name string, ds *drainState) bool {
	for _, w := range d.running {
		if w == name {
			return true
		}
	}
	if time.Now().After(ds.until) {
		return false
	}
	for id := range ds.jobs {
		if d.jobs[id] == nil {
			delete(ds.jobs, id)
		}
	}
	if len(ds.jobs) > 0 {
		return true
	}
	for _, rs := range d.recv {
		for _, r := range rs.retiring {
			if r.worker == name {
				return true
			}
		}
	}
	return false
}

// drainCopies lists a copy of every block that name holds and no live,
// not draining worker does, spread over the live workers that do not
// drain (none: nothing can be copied).
func (d *Driver) drainCopies(name string) []BlockCopy {
	targets := d.stayingWorkers()
	if len(targets) == 0 {
		return nil
	}
	var ids []blockstore.ID
	for id, locs := range d.blocks {
		if d.onlyOn(locs, name) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	copies := make([]BlockCopy, len(ids))
	for i, id := range ids {
		copies[i] = BlockCopy{ID: id, Worker: targets[(id.Part+i)%len(targets)]}
	}
	return copies
}

// onlyOn says whether locs holds name and no live worker that stays.
func (d *Driver) onlyOn(locs []string, name string) bool {
	held := false
	for _, w := range locs {
		if w == name {
			held = true
		} else if _, live := d.workers[w]; live && d.draining[w] == nil {
			return false
		}
	}
	return held
}

// stayingWorkers lists, sorted, the live workers that run ordinary tasks
// and do not drain.
func (d *Driver) stayingWorkers() []string {
	var names []string
	for w := range d.workers {
		if !d.reserved[w] && d.draining[w] == nil {
			names = append(names, w)
		}
	}
	sort.Strings(names)
	return names
}

// copied registers the copies a drain made, then releases the worker.
// A copy of a block freed meanwhile is freed on its new worker too.
func (d *Driver) copied(r copiedReq) {
	ds := d.draining[r.name]
	if ds == nil {
		return
	}
	for _, c := range r.copies {
		if _, live := d.workers[c.Worker]; !live {
			continue
		}
		if len(d.blocks[c.ID]) == 0 {
			d.transport.Free(c.Worker, map[lineage.ID]bool{c.ID.Dataset: true})
			continue
		}
		d.addBlock(c.ID, c.Worker)
	}
	d.stats.BlocksMoved += int64(len(r.copies))
	d.release(r.name, ds)
}

// release removes a drained worker as lost and says it is drained.
func (d *Driver) release(name string, ds *drainState) {
	delete(d.draining, name)
	d.workerLost(name)
	d.stats.Drained++
	close(ds.done)
}

// retireReceivers moves the receivers a draining worker runs: each is
// told to stop, and its blocks are taken until it says it stopped (see
// receivedBlock); placeReceivers starts a new incarnation elsewhere.
func (d *Driver) retireReceivers(name string) {
	for n, rs := range d.recv {
		if rs.worker != name || rs.stopped {
			continue
		}
		rs.retiring = append(rs.retiring, retired{worker: name, incarnation: rs.incarnation})
		d.stopReceiver(rs, n)
		rs.worker, rs.targets = "", nil
	}
}
