package scheduler

import (
	"fmt"
	"testing"
	"time"
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
		job.ID = JobID(i)
		s := benchScheduler(b, workers, slots, job)
		if done := runToEnd(s); done != 1 {
			b.Fatalf("%d jobs done", done)
		}
	}
}

// benchScheduler returns a scheduler with workers of slots each and job
// submitted.
func benchScheduler(b *testing.B, workers, slots int, job Job) *Scheduler {
	s := New(Config{})
	for w := range workers {
		if err := s.Step(WorkerJoined{Worker: WorkerID(fmt.Sprintf("w%03d", w)), Slots: slots}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Step(SubmitJob{Job: job}); err != nil {
		b.Fatal(err)
	}
	return s
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

// BenchmarkSchedulerJobSpeculation is BenchmarkSchedulerJob with time and
// stragglers: every task takes 1ms of Tick time, but one map task in ten
// hangs until its backup finishes and the original is cancelled.
func BenchmarkSchedulerJobSpeculation(b *testing.B) {
	const workers, slots = 100, 4
	job := Job{Stages: []Stage{
		{ID: 1, NumTasks: 1000},
		{ID: 2, NumTasks: 100, Parents: []StageID{1}, Result: true},
	}}
	b.ReportAllocs()
	var c Counters
	for i := 0; b.Loop(); i++ {
		job.ID = JobID(i)
		s := benchScheduler(b, workers, slots, job)
		if done := runWithStragglers(s); done != 1 {
			b.Fatalf("%d jobs done", done)
		}
		c = s.Status().Counters
	}
	if c.SpeculativeWon != 100 {
		b.Fatalf("counters %+v, want 100 backups won", c)
	}
}

// runWithStragglers finishes launched tasks in launch order, a Tick of 1ms
// before each, except the originals of map partitions 9, 19, ...: those
// never finish. When nothing else runs, time jumps by a second, which
// makes them stragglers. It returns how many jobs were reported done.
func runWithStragglers(s *Scheduler) int {
	now := time.Duration(0)
	step := func(ev Event) []Action {
		_ = s.Step(ev)
		return s.Ready()
	}
	queue := s.Ready()
	done := 0
	for {
		if len(queue) == 0 {
			if st := s.Status(); len(st.Jobs) == 0 {
				return done
			}
			now += time.Second
			queue = step(Tick{Now: now})
			if len(queue) == 0 {
				return done // stuck: the caller's count says so
			}
			continue
		}
		a := queue[0]
		queue = queue[1:]
		switch a := a.(type) {
		case Launch:
			if t := a.Task; t.Stage == 1 && t.Partition%10 == 9 && !t.Speculative {
				continue // a straggler: hangs
			}
			now += time.Millisecond
			queue = append(queue, step(Tick{Now: now})...)
			queue = append(queue, step(TaskFinished{Task: a.Task, Worker: a.Worker})...)
		case JobDone:
			done++
		}
	}
}
