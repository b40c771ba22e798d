package scheduler

import (
	"fmt"
	"testing"
)

// BenchmarkSchedulerJob runs a 1000-task map stage and a 100-task reduce
// stage across 100 workers of 4 slots, finishing every task as it is
// launched: the cost of the scheduler per job, all bookkeeping included.
func BenchmarkSchedulerJob(b *testing.B) {
	const workers, slots = 100, 4
	job := Job{Stages: []Stage{
		{ID: 1, NumTasks: 1000},
		{ID: 2, NumTasks: 100, Parents: []StageID{1}, Result: true},
	}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := New(Config{})
		for w := range workers {
			if err := s.Step(WorkerJoined{Worker: WorkerID(fmt.Sprintf("w%03d", w)), Slots: slots}); err != nil {
				b.Fatal(err)
			}
		}
		job.ID = JobID(i)
		if err := s.Step(SubmitJob{Job: job}); err != nil {
			b.Fatal(err)
		}
		if done := runToEnd(s); done != 1 {
			b.Fatalf("%d jobs done", done)
		}
	}
}

// runToEnd finishes launched tasks, in launch order, until none is left,
// and returns how many jobs were reported done.
func runToEnd(s *Scheduler) int {
	queue := s.Ready()
	done := 0
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		switch a := a.(type) {
		case Launch:
			_ = s.Step(TaskFinished{Task: a.Task, Worker: a.Worker})
			queue = append(queue, s.Ready()...)
		case JobDone:
			done++
		}
	}
	return done
}
