package sim

import (
	"math"
	"time"

	"github.com/sluicehq/sluice/internal/scheduler"
)

// fail loses the failing node: the scheduler relaunches its attempts and
// recomputes the current batches' map outputs it held; the state it held
// since the last checkpoint is rebuilt by a recovery job as cfg.Model
// says. Batches not done yet cannot complete before that job (their state
// updates need the rebuilt state).
func (r *run) fail() error {
	r.failed = true
	for k := range r.running {
		if k.worker == r.dead {
			delete(r.running, k)
		}
	}
	delete(r.slow, r.dead)
	if err := r.step(scheduler.WorkerLost{Worker: r.dead}); err != nil {
		return err
	}
	r.lost = r.inOrder
	if c := r.cfg.CheckpointEvery; c > 0 {
		r.lost = r.inOrder % c
	}
	if r.lost == 0 {
		r.recoveryAt = r.now
		return nil
	}
	var st scheduler.StageID
	switch r.cfg.Model {
	case Parallel:
		// The node's partitions of every lost batch, each a task like
		// the batch's own.
		perNode := float64(r.mapTasks+r.redTasks) / float64(r.cfg.Nodes)
		r.recTasks = max(1, int(math.Round(float64(r.lost)*perNode)))
		st = r.newStage(r.recTasks, r.mean)
	case UpstreamBackup:
		// The node's share of the lost batches' work, in node time
		// (Load×BatchInterval per batch), replayed as one task.
		r.recTasks = 1
		r.nextStage++
		st = r.nextStage
		d := float64(r.lost) * r.cfg.Load * float64(r.cfg.BatchInterval)
		r.base[st] = []time.Duration{time.Duration(d)}
	}
	r.recoveryJob = scheduler.JobID(2*r.inOrder + 1)
	r.pending++
	return r.step(scheduler.SubmitJob{Job: scheduler.Job{ID: r.recoveryJob, Stages: []scheduler.Stage{
		{ID: st, NumTasks: r.recTasks, Result: true},
	}}})
}
