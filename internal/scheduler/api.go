package scheduler

import "time"

// WorkerID names a worker. Workers are ordered by ID wherever the scheduler
// must break a tie, which keeps every decision deterministic.
type WorkerID string

// JobID identifies a job; lower IDs have priority for free slots (FIFO).
type JobID int64

// StageID identifies a stage. The runtime gives a shuffle-map stage the same
// ID in every job that needs that shuffle, so concurrent jobs share it.
type StageID int64

// Job is a DAG of stages submitted as one unit: the runtime's view of one
// action (an output operation of one batch, or a user's Collect).
type Job struct {
	ID JobID
	// Stages in topological order: parents before children. The last one
	// is the result stage.
	Stages []Stage
}

// Stage is a set of tasks, one per partition, that share parent stages.
type Stage struct {
	ID      StageID
	Parents []StageID
	// NumTasks is the number of partitions of the stage.
	NumTasks int
	// Result is true for the job's final stage; its tasks deliver results
	// instead of shuffle output.
	Result bool
	// Available[p], when not empty, is the worker already holding partition
	// p's output (a shuffle map output from an earlier job); that partition
	// is not run unless the output is lost. Nil means nothing is available.
	Available []WorkerID
	// Prefer[p] lists the workers where partition p's inputs live (cached
	// partitions, input blocks, state). Nil means no preference.
	Prefer [][]WorkerID
	// Pinned stages run only on reserved workers (see WorkerJoined): their
	// datasets exist only in the driver's process.
	Pinned bool
}

// Task names one attempt of one partition of one stage.
type Task struct {
	Job       JobID
	Stage     StageID
	Partition int
	// Attempt counts attempts of (Stage, Partition) from 0; together with
	// Epoch it fences late results of superseded attempts.
	Attempt int
	// Epoch is the scheduler's incarnation (Config.Epoch).
	Epoch int64
	// Speculative marks a backup copy of a straggling attempt of the same
	// partition, running on another worker at the same time. The first of
	// the two to finish wins; the other gets a Cancel (see Launch).
	Speculative bool
}

// Event is an input to the scheduler (see Step).
type Event interface{ isEvent() }

// Tick advances the scheduler's notion of time. The scheduler never reads a
// clock: Now is the time since an arbitrary origin that the runtime or a
// test chooses.
type Tick struct{ Now time.Duration }

// WorkerJoined adds a worker with Slots concurrent task slots.
type WorkerJoined struct {
	Worker WorkerID
	Slots  int
	// Reserved workers run the tasks of pinned stages, and only those
	// (the driver's own executor, for datasets only it can build).
	Reserved bool
}

// WorkerLost removes a worker: its running tasks are rescheduled elsewhere
// (without counting as task failures) and its shuffle outputs of active
// jobs are marked missing and recomputed.
type WorkerLost struct{ Worker WorkerID }

// DrainWorker starts draining a worker that is to leave: from now on it
// gets no new task, normal or speculative (its attempts that are running
// go on and are reported as usual), and it is no preference for locality.
// Its map outputs stay available until it is lost. The runtime moves what
// it holds elsewhere, then removes it with WorkerLost. Draining a worker
// that is not live is stale and ignored; draining one twice changes
// nothing. If every live worker drains, tasks wait for a new worker.
type DrainWorker struct{ Worker WorkerID }

// SubmitJob submits a job.
type SubmitJob struct{ Job Job }

// ReplanJob gives an active job a new plan: the same result stage (same ID,
// same number of tasks) with other parent stages. It is the runtime's answer
// to a task that needed a parent the old plan left out (the plan read a
// cached partition instead, and it was lost): the job goes on without
// losing its work. The result stage keeps its delivered results and its
// running attempts; its pending partitions run once the new parents are
// complete. Stages of the old plan that no active job lists any more are
// dropped and their attempts cancelled. A replan of a job that is not
// active is stale and ignored.
type ReplanJob struct {
	Job Job
	// Retry, if set, is the running attempt that asked for the new plan:
	// it ends without counting as a task failure, and its partition runs
	// again under the new plan. A Retry that names no running attempt is
	// stale and ignored.
	Retry *RunningTask
}

// CancelJob abandons a job: its running tasks are cancelled, JobFailed is emitted.
type CancelJob struct {
	Job    JobID
	Reason string
}

// TaskFinished reports a successful attempt; for a shuffle-map task its
// output now lives on Worker.
type TaskFinished struct {
	Task   Task
	Worker WorkerID
}

// TaskFailed reports a failed attempt.
type TaskFailed struct {
	Task   Task
	Worker WorkerID
	Reason string
	// Fetch, when set, says the task could not read a parent shuffle output:
	// that output is marked missing and its map partition recomputed before
	// the task is retried. A fetch failure does not count toward
	// MaxTaskFailures, unless it cannot be right: it names no parent output
	// of the stage, or a worker other than the one the output was on when
	// the attempt was launched (a bug in the runtime, bounded like a task
	// failure rather than retried without end).
	Fetch *FetchFailure
}

// FetchFailure names a shuffle map output that could not be read.
type FetchFailure struct {
	Stage     StageID
	Partition int
	Worker    WorkerID
	// Unreachable says Worker could not be reached at all (the connection
	// was refused or broke before it answered), rather than answering that
	// it lacks the output: then every map output recorded on Worker that
	// the attempt could have read is marked missing, not only the one
	// named, so they are all recomputed at once; and they rerun on other
	// workers while another that can run them is live. Worker may be dead,
	// but it stays live until WorkerLost: membership is the runtime's call.
	Unreachable bool
}

func (Tick) isEvent()         {}
func (WorkerJoined) isEvent() {}
func (WorkerLost) isEvent()   {}
func (DrainWorker) isEvent()  {}
func (SubmitJob) isEvent()    {}
func (ReplanJob) isEvent()    {}
func (CancelJob) isEvent()    {}
func (TaskFinished) isEvent() {}
func (TaskFailed) isEvent()   {}

// Action is an output of the scheduler (see Ready).
type Action interface{ isAction() }

// Launch asks the runtime to run Task on Worker.
//
// A Launch whose Task.Speculative is set is a backup copy: another attempt
// of the same partition keeps running on another worker. The runtime runs
// it like any attempt and reports it with the Task exactly as launched.
// The first TaskFinished of the two wins: the scheduler takes that
// attempt's output (for a map task, on that attempt's worker) and, in the
// same Step, emits a Cancel for the other, whose output the runtime must
// then discard (not register, not deliver); its later reports are ignored.
type Launch struct {
	Task   Task
	Worker WorkerID
}

// Cancel asks the runtime to stop an attempt; its result, if any arrives,
// is ignored by the scheduler anyway. An attempt is cancelled when its job
// or stage is abandoned, or when the other copy of its partition finished
// first (speculative execution): either way, what it produced is not to
// be used.
type Cancel struct {
	Task   Task
	Worker WorkerID
}

// JobDone reports that every result task of the job has finished once.
type JobDone struct{ Job JobID }

// JobFailed reports that a job was abandoned.
type JobFailed struct {
	Job    JobID
	Reason string
}

func (Launch) isAction()    {}
func (Cancel) isAction()    {}
func (JobDone) isAction()   {}
func (JobFailed) isAction() {}

// Config holds the scheduler's tunables. Zero values take the defaults.
type Config struct {
	// Epoch is stamped on every task; a restarted driver uses a higher one.
	Epoch int64
	// MaxTaskFailures is how many failed attempts of one partition fail the
	// job (default 4). Worker loss and fetch failures do not count
	// (but see TaskFailed.Fetch).
	MaxTaskFailures int
	// LocalityWait is how long a task with preferred workers waits for a
	// free slot on one of them before running anywhere (default 0: it runs
	// at once on a preferred worker if one has a free slot, elsewhere if not).
	LocalityWait time.Duration
	// MaxStageAttempts bounds fetch-failure resubmissions: how many times
	// fetch failures may send one stage back to wait for recomputed parent
	// outputs before its jobs fail (default 8). Without a bound a worker
	// whose shuffle service keeps failing would livelock the job. Fetch
	// failures reported by attempts launched before the last loss of a
	// parent output do not count: that loss was already handled.
	MaxStageAttempts int

	// NoSpeculation turns speculative execution off: no backup copies.
	NoSpeculation bool
	// SpeculationQuantile is the share of a stage's partitions that must
	// have finished before its stragglers get backups (default 0.75;
	// values above 1 are taken as 1). A partition counts as finished while
	// its output is current and was produced by an attempt this scheduler
	// launched and timed: outputs taken as Available say nothing about how
	// long the stage's tasks take, and a lost output stops counting. At
	// least one finished partition is needed.
	SpeculationQuantile float64
	// SpeculationMultiplier: a running attempt is a straggler when it has
	// run longer than SpeculationMultiplier times the median duration of
	// the stage's finished partitions (default 1.5).
	SpeculationMultiplier float64
	// SpeculationMinDuration: an attempt is not a straggler before it has
	// run this long, whatever the median (default 100ms): on tiny tasks a
	// multiple of the median is noise.
	SpeculationMinDuration time.Duration

	// NoExclusion turns worker exclusion off.
	NoExclusion bool
	// ExcludeAfter is how many strikes within ExcludeFor exclude a worker
	// (default 3). A strike is a task failure on the worker (not a fetch
	// failure, not the loss of the worker), or a straggle: an attempt on
	// the worker that got a backup copy and was beaten by it.
	ExcludeAfter int
	// ExcludeFor is how long an exclusion lasts, and the window in which
	// strikes are counted (default 30s), in Tick time. An excluded worker
	// gets no new task while a live worker that is not excluded could run
	// it (if every such worker is excluded, tasks run there anyway), and
	// no backup copy at all; its running attempts go on.
	ExcludeFor time.Duration
}
