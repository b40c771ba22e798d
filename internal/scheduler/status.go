package scheduler

import (
	"maps"
	"slices"
	"time"
)

// Status is a snapshot of the scheduler for UIs and tests. It shares no
// memory with the scheduler.
type Status struct {
	Now     time.Duration  // the time of the last Tick
	Workers []WorkerStatus // live workers by ID
	Jobs    []JobStatus    // active jobs by ID (priority order)
	// Running lists the running attempts by stage ID, then partition,
	// then launch order (an attempt before its backup copy).
	Running  []RunningTask
	Counters Counters
}

// Counters count, since New, what speculative execution and exclusion did,
// for metrics. Every backup launched is eventually won or wasted:
// SpeculativeLaunched = SpeculativeWon + SpeculativeWasted + the backups
// running (Task.Speculative in Status.Running).
type Counters struct {
	SpeculativeLaunched int // backup copies launched
	// SpeculativeWon counts backups that finished first: their
	// partition's output is theirs, and the attempt they backed up was
	// cancelled.
	SpeculativeWon int
	// SpeculativeWasted counts backups that ended without producing their
	// partition's output: cancelled because the attempt they backed up
	// finished first, failed, lost with their worker, or cancelled with
	// their job or stage.
	SpeculativeWasted int
	Exclusions        int // times a worker was excluded (not extensions)
}

// WorkerStatus describes a live worker.
type WorkerStatus struct {
	ID      WorkerID
	Slots   int
	Running int // attempts running on the worker
	// Excluded says the worker is excluded (see Config.ExcludeFor) until
	// ExcludedUntil, in Tick time: the first Tick at or after it readmits
	// it. ExcludedUntil is 0 when the worker is not excluded.
	Excluded      bool
	ExcludedUntil time.Duration
	// Draining says the worker is leaving (DrainWorker): it gets no new
	// attempt; Running counts those that must still finish.
	Draining bool
}

// JobStatus describes an active job.
type JobStatus struct {
	ID     JobID
	Stages []StageStatus // in the job's order; the last is the result stage
}

// StageStatus describes a stage of an active job. A shared stage appears
// under every job that lists it.
type StageStatus struct {
	ID       StageID
	NumTasks int
	Done     int // partitions with their output available (or delivered)
	Running  int // partitions with a running attempt (or two)
}

// RunningTask is a running attempt and where it runs.
type RunningTask struct {
	Task   Task
	Worker WorkerID
}

// Status returns a snapshot of the scheduler's state.
func (s *Scheduler) Status() Status {
	out := Status{Now: s.now, Counters: s.counters}
	for _, id := range s.order {
		w := s.workers[id]
		out.Workers = append(out.Workers, WorkerStatus{ID: id, Slots: w.slots, Running: w.running,
			Excluded: w.excluded, ExcludedUntil: w.until, Draining: w.draining})
	}
	for _, id := range s.queue {
		js := JobStatus{ID: id}
		for _, st := range s.jobs[id].stages {
			js.Stages = append(js.Stages, StageStatus{ID: st.id, NumTasks: st.numTasks, Done: st.done, Running: st.running})
		}
		out.Jobs = append(out.Jobs, js)
	}
	for _, id := range slices.Sorted(maps.Keys(s.stages)) {
		st := s.stages[id]
		for p := range st.parts {
			pt := &st.parts[p]
			for i := range pt.nrun {
				run := pt.at(i)
				out.Running = append(out.Running, RunningTask{Task: run.task, Worker: run.worker})
			}
		}
	}
	return out
}

// Counters returns the speculation and exclusion counters (cheaper than
// Status).
func (s *Scheduler) Counters() Counters { return s.counters }
