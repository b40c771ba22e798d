package scheduler

import (
	"errors"
	"testing"
	"time"
)

func TestStepRejectsMalformedEvents(t *testing.T) {
	s := New(Config{})
	for _, ev := range []Event{nil, &Tick{}, WorkerJoined{Slots: 1}, WorkerJoined{Worker: "w1", Slots: MaxSlotsPerWorker + 1}} {
		if err := s.Step(ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("Step(%#v) = %v, want ErrInvalidEvent", ev, err)
		}
	}
	if a := s.Ready(); len(a) != 0 {
		t.Errorf("rejected events produced %v", a)
	}
}

func TestReadyDrains(t *testing.T) {
	s := New(Config{})
	_ = s.Step(WorkerJoined{Worker: "w1", Slots: 1})
	_ = s.Step(SubmitJob{Job: Job{ID: 1, Stages: []Stage{{ID: 1, NumTasks: 1, Result: true}}}})
	if a := s.Ready(); len(a) != 1 {
		t.Fatalf("Ready = %v, want one launch", a)
	}
	if a := s.Ready(); a != nil {
		t.Fatalf("second Ready = %v, want nothing", a)
	}
}

// The scheduler keeps no reference to the caller's slices: changing a
// submitted job's preferences afterwards changes nothing.
func TestSubmitCopiesPreferences(t *testing.T) {
	s := New(Config{LocalityWait: time.Second})
	steps := []Event{
		WorkerJoined{Worker: "w1", Slots: 1},
		WorkerJoined{Worker: "w2", Slots: 1},
		SubmitJob{Job: Job{ID: 1, Stages: []Stage{{ID: 1, NumTasks: 1, Result: true}}}}, // takes w1
	}
	for _, ev := range steps {
		if err := s.Step(ev); err != nil {
			t.Fatal(err)
		}
	}
	prefer := [][]WorkerID{{"w1"}}
	if err := s.Step(SubmitJob{Job: Job{ID: 2, Stages: []Stage{{ID: 2, NumTasks: 1, Result: true, Prefer: prefer}}}}); err != nil {
		t.Fatal(err)
	}
	prefer[0][0] = "w2" // would make the waiting task run on w2 at once
	if err := s.Step(Tick{}); err != nil {
		t.Fatal(err)
	}
	if a := s.Ready(); len(a) != 1 || a[0].(Launch).Task.Job != 1 {
		t.Fatalf("Ready = %v, want only job 1's launch", a)
	}
}
