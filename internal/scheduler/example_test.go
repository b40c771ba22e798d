package scheduler_test

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/scheduler"
)

// A runtime loop in miniature: step events in, carry out the actions that
// come out. Here the "runtime" reports every launched task as finished.
func ExampleScheduler() {
	s := scheduler.New(scheduler.Config{Epoch: 1})
	events := []scheduler.Event{
		scheduler.WorkerJoined{Worker: "w1", Slots: 2},
		scheduler.WorkerJoined{Worker: "w2", Slots: 2},
		scheduler.SubmitJob{Job: scheduler.Job{ID: 1, Stages: []scheduler.Stage{
			{ID: 1, NumTasks: 2}, // map
			{ID: 2, NumTasks: 1, Parents: []scheduler.StageID{1}, Result: true}, // reduce
		}}},
	}
	for len(events) > 0 {
		ev := events[0]
		events = events[1:]
		if err := s.Step(ev); err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		for _, a := range s.Ready() {
			switch a := a.(type) {
			case scheduler.Launch:
				t := a.Task
				fmt.Printf("launch stage %d partition %d attempt %d on %s\n", t.Stage, t.Partition, t.Attempt, a.Worker)
				events = append(events, scheduler.TaskFinished{Task: t, Worker: a.Worker})
			case scheduler.Cancel:
				fmt.Printf("cancel %+v on %s\n", a.Task, a.Worker)
			case scheduler.JobDone:
				fmt.Printf("job %d done\n", a.Job)
			case scheduler.JobFailed:
				fmt.Printf("job %d failed: %s\n", a.Job, a.Reason)
			}
		}
	}
	// Output:
	// launch stage 1 partition 0 attempt 0 on w1
	// launch stage 1 partition 1 attempt 0 on w2
	// launch stage 2 partition 0 attempt 0 on w1
	// job 1 done
}
