package runtime

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Observer learns what the driver does, for the web UI and the logs. Its
// methods run on the driver's event loop: they must return quickly and
// must not call the driver.
type Observer interface {
	// JobStarted and JobEnded bracket a job (ended: done, failed or
	// cancelled; Err says which).
	JobStarted(JobReport)
	JobEnded(JobReport)
	// TaskEnded reports an attempt that finished, failed, or was
	// cancelled (a speculative race lost, a job cancelled, its worker
	// lost).
	TaskEnded(TaskReport)
	// Event reports a change worth a line in the event log.
	Event(Event)
}

// JobReport describes a job.
type JobReport struct {
	Job   scheduler.JobID
	Batch int64
	// Dataset is the job's final dataset.
	Dataset lineage.ID
	Op      string
	Started time.Time
	Ended   time.Time
	Err     error
}

// Task statuses in a TaskReport.
const (
	TaskOK        = "ok"
	TaskFailed    = "failed"
	TaskCancelled = "cancelled"
)

// TaskReport describes the end of a task attempt.
type TaskReport struct {
	Task  scheduler.Task
	Batch int64
	// Dataset is the stage's dataset (the one its tasks compute) and Op
	// its operator; Map says the stage writes a shuffle.
	Dataset lineage.ID
	Op      string
	Map     bool
	Worker  string
	// Launched is when the driver launched the attempt; Duration is the
	// time the worker reports (for a cancelled attempt, the time since
	// its launch).
	Launched          time.Time
	Duration          time.Duration
	Records           int
	ShuffleWriteBytes int64
	ShuffleReadBytes  int64
	// Status is TaskOK, TaskFailed or TaskCancelled; Err the failure.
	Status string
	Err    string
	// Figures are those the attempt's compute functions recorded (see
	// lineage.Recorder); only from attempts that finished.
	Figures []lineage.Figure
}

// Event kinds.
const (
	EventWorkerJoined   = "worker-joined"
	EventWorkerLost     = "worker-lost"
	EventWorkerExcluded = "worker-excluded"
	EventTaskFailed     = "task-failed"
	EventSpeculation    = "speculation"
)

// Event is an entry for the event log.
type Event struct {
	Kind    string
	Worker  string
	Batch   int64
	Message string
}

// launched is what the driver keeps of a running attempt.
type launched struct {
	worker string
	at     time.Time
}

// observeTask reports the end of attempt t (running on w) to the observer.
func (d *Driver) observeTask(t scheduler.Task, l launched, r *TaskResult, status, reason string) {
	o := d.cfg.Observer
	if o == nil {
		return
	}
	rep := TaskReport{Task: t, Worker: l.worker, Launched: l.at, Status: status, Err: reason}
	if st := d.stages[t.Stage]; st != nil {
		rep.Dataset, rep.Op, rep.Map = st.ds.ID, st.ds.Op, st.shuffle != nil
		rep.Batch = st.ds.ID.Time
		if st.job != nil {
			rep.Batch = st.job.batch
		}
	}
	if j := d.jobs[t.Job]; j != nil {
		rep.Batch = j.batch
	}
	if r != nil {
		rep.Duration, rep.Records = r.Duration, r.Records
		rep.ShuffleWriteBytes, rep.ShuffleReadBytes = r.ShuffleWriteBytes, r.ShuffleReadBytes
		if status == TaskOK {
			rep.Figures = r.Figures
		}
	} else {
		rep.Duration = time.Since(l.at)
	}
	o.TaskEnded(rep)
	if status == TaskFailed {
		o.Event(Event{Kind: EventTaskFailed, Worker: l.worker, Batch: rep.Batch,
			Message: fmt.Sprintf("task %s partition %d attempt %d failed on %s: %s", rep.Op, t.Partition, t.Attempt, l.worker, reason)})
	}
	if status == TaskOK && t.Speculative {
		o.Event(Event{Kind: EventSpeculation, Worker: l.worker, Batch: rep.Batch,
			Message: fmt.Sprintf("speculative copy of %s partition %d won on %s", rep.Op, t.Partition, l.worker)})
	}
}

// observeJob reports a job's start or end.
func (d *Driver) observeJob(j *job, end bool, err error) {
	o := d.cfg.Observer
	if o == nil {
		return
	}
	r := JobReport{Job: j.id, Batch: j.batch, Dataset: j.final.ID, Op: j.final.Op, Started: j.started, Err: err}
	if end {
		r.Ended = time.Now()
		o.JobEnded(r)
		return
	}
	o.JobStarted(r)
}

func (d *Driver) event(e Event) {
	if d.cfg.Observer != nil {
		d.cfg.Observer.Event(e)
	}
}

// observeExclusions reports workers the scheduler excluded since the last
// call (it compares the counter first, so most calls cost nothing).
func (d *Driver) observeExclusions() {
	if d.cfg.Observer == nil {
		return
	}
	n := d.sched.Counters().Exclusions
	if n == d.exclusions {
		return
	}
	d.exclusions = n
	for _, w := range d.sched.Status().Workers {
		if w.Excluded && !d.excluded[string(w.ID)] {
			d.event(Event{Kind: EventWorkerExcluded, Worker: string(w.ID),
				Message: fmt.Sprintf("%s excluded for failing or straggling", w.ID)})
		}
		d.excluded[string(w.ID)] = w.Excluded
	}
}

// shuffleBytes estimates the encoded size of buckets of type typ, holding
// n records in all, from a sample of the first non-empty one (see
// blockstore.EstimateBytes).
func shuffleBytes(typ lineage.Type, buckets []any, n int) int64 {
	if n == 0 || typ == nil {
		return 0
	}
	for _, b := range buckets {
		if k := typ.Len(b); k > 0 {
			per := float64(blockstore.EstimateRecordBytes(typ, b))
			return int64(per * float64(n))
		}
	}
	return 0
}
