package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/internal/scheduler"
)

// standby is the node that takes over a failed node under UpstreamBackup.
const standby scheduler.WorkerID = "standby"

// fail loses the failing node: the scheduler relaunches its attempts and
// recomputes the current batches' map outputs it held; the state it held
// since the last checkpoint is rebuilt by a recovery job as cfg.Model
// says. Batches not done yet cannot complete before that job (their state
// updates need the rebuilt state). Their tasks run meanwhile, though, at a
// lower priority, so their own reduce step on the failed node's
// partitions, which needs the rebuilt state, does not wait for it: a
// little optimistic, by about a task time per batch in flight when the
// state is rebuilt (the first within the task time of lateness that
// Result.Recovery allows).
//
// Parallel: a job as the engine plans the recomputation of a state
// dataset (see the root package's recover.go and the runtime's stage
// planning): a map stage, the node's map tasks of every lost batch,
// independent and spread over the live nodes (one stage for the engine's
// one per lost batch: all are parents of the chains alike); then a result
// stage, one task per state partition the node held, that runs the
// partition's chain of lost reduce steps (UpdateStateByKey's state at
// batch b reads the same partition at b−1, a narrow dependency the engine
// pipelines into one task), so each chain takes about Lost reduce task
// times, the chains in parallel. The scheduler places both stages. The
// live nodes from then on also carry the failed node's share of every
// batch.
//
// UpstreamBackup (the D-Streams paper's model of it): an idle standby node
// takes the failed node's place. It replays the node's share of the lost
// batches serially (one task: Load×BatchInterval per batch, in node time,
// as if one task used the whole node), then the node's share of every
// batch not done, as they come, one at a time: a batch completes only
// once the standby has processed its share. New data keeps arriving while
// it replays, so it catches up only at the rate of its spare capacity,
// 1−Load: the recovery time grows like Load/(1−Load). The other nodes
// keep their own share only.
func (r *run) fail() error {
	r.failed = true
	delete(r.slow, r.dead)
	if err := r.step(scheduler.WorkerLost{Worker: r.dead}); err != nil {
		return err
	}
	r.lost = r.inOrder
	if c := r.cfg.CheckpointEvery; c > 0 {
		r.lost = r.inOrder % c
	}
	if !r.rebuild {
		r.lost = 0
	}
	if r.cfg.Model == UpstreamBackup {
		return r.failOver()
	}
	if r.lost == 0 {
		r.recoveryAt = r.now
		return nil
	}
	n := float64(r.cfg.Nodes)
	maps := max(1, int(math.Round(float64(r.lost*r.mapTasks)/n)))
	r.chains = max(1, int(math.Round(float64(r.redTasks)/n)))
	r.recTasks = maps + r.chains
	m := r.newStage(r.recRng, maps, r.mean)
	chains := r.newChainStage(r.recRng, r.chains, r.lost, r.mean)
	r.recoveryJob = scheduler.JobID(2*r.inOrder + 1)
	r.pending++
	return r.step(scheduler.SubmitJob{Job: scheduler.Job{ID: r.recoveryJob, Stages: []scheduler.Stage{
		{ID: m, NumTasks: maps},
		{ID: chains, NumTasks: r.chains, Parents: []scheduler.StageID{m}, Result: true},
	}}})
}

// newChainStage adds a stage of n tasks, each a chain of steps tasks of
// the given mean run one after the other (its duration is the sum of
// theirs: each step's partition size is drawn as a batch's task's is).
func (r *run) newChainStage(rng *rand.Rand, n, steps int, mean time.Duration) scheduler.StageID {
	base := make([]time.Duration, n)
	for p := range base {
		for _, d := range r.durations(rng, steps, mean) {
			base[p] += d
		}
	}
	r.nextStage++
	r.base = append(r.base, base)
	return r.nextStage
}

// failOver starts the standby (UpstreamBackup): its replay of the lost
// batches, then its share of each batch submitted and not done. (The
// batches already submitted keep their full jobs: the scheduler reruns the
// failed node's tasks of those on the others, a little work counted
// twice.)
func (r *run) failOver() error {
	if err := r.step(scheduler.WorkerJoined{Worker: standby, Slots: 1, Reserved: true}); err != nil {
		return err
	}
	r.recTasks = 1
	r.recoveryJob = scheduler.JobID(2*r.inOrder + 1)
	d := time.Duration(float64(r.lost) * r.cfg.Load * float64(r.cfg.BatchInterval))
	r.standbyBusy = true
	if err := r.submitPinned(r.recoveryJob, d); err != nil {
		return err
	}
	for b := r.inOrder; b < r.submitted; b++ {
		if err := r.submitShare(b); err != nil {
			return err
		}
	}
	return nil
}

// shareJob is the ID of the standby's job for batch b: above every batch
// and recovery job. Only the standby runs these jobs, and it runs nothing
// else.
func shareJob(b int) scheduler.JobID { return scheduler.JobID(1<<40 + b) }

// submitShare queues the standby's share of batch b: the failed node's
// part of its work, in node time.
func (r *run) submitShare(b int) error {
	r.shareAt[b] = -1
	r.shares = append(r.shares, b)
	return r.feedStandby()
}

// feedStandby submits the next share queued, if the standby is idle. The
// standby runs one task at a time, so its work waits here rather than as
// jobs in the scheduler, every one of which each scheduling pass would
// visit: the same order, at a fraction of the cost.
func (r *run) feedStandby() error {
	if r.standbyBusy || len(r.shares) == 0 {
		return nil
	}
	b := r.shares[0]
	r.shares = r.shares[1:]
	r.shareOf[shareJob(b)] = b
	r.standbyBusy = true
	return r.submitPinned(shareJob(b), time.Duration(r.cfg.Load*float64(r.cfg.BatchInterval)))
}

// submitPinned submits a job of one task of duration d for the standby.
func (r *run) submitPinned(id scheduler.JobID, d time.Duration) error {
	r.nextStage++
	st := r.nextStage
	r.base = append(r.base, []time.Duration{max(d, 1)})
	r.pending++
	return r.step(scheduler.SubmitJob{Job: scheduler.Job{ID: id, Stages: []scheduler.Stage{
		{ID: st, NumTasks: 1, Result: true, Pinned: true},
	}}})
}
