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
	Running []RunningTask  // running attempts by stage ID, then partition
}

// WorkerStatus describes a live worker.
type WorkerStatus struct {
	ID      WorkerID
	Slots   int
	Running int // attempts running on the worker
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
	Running  int // partitions with a running attempt
}

// RunningTask is a running attempt and where it runs.
type RunningTask struct {
	Task   Task
	Worker WorkerID
}

// Status returns a snapshot of the scheduler's state.
func (s *Scheduler) Status() Status {
	out := Status{Now: s.now}
	for _, id := range s.order {
		w := s.workers[id]
		out.Workers = append(out.Workers, WorkerStatus{ID: id, Slots: w.slots, Running: w.running})
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
			if pt := &st.parts[p]; pt.running {
				out.Running = append(out.Running, RunningTask{Task: pt.run.task, Worker: pt.run.worker})
			}
		}
	}
	return out
}
