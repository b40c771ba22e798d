package runtime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	started []JobReport
	ended   []JobReport
	tasks   []TaskReport
	events  []Event
}

func (r *recorder) JobStarted(j JobReport) {
	r.mu.Lock()
	r.started = append(r.started, j)
	r.mu.Unlock()
}
func (r *recorder) JobEnded(j JobReport)   { r.mu.Lock(); r.ended = append(r.ended, j); r.mu.Unlock() }
func (r *recorder) TaskEnded(t TaskReport) { r.mu.Lock(); r.tasks = append(r.tasks, t); r.mu.Unlock() }
func (r *recorder) Event(e Event)          { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) snapshot() ([]JobReport, []JobReport, []TaskReport, []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]JobReport(nil), r.started...), append([]JobReport(nil), r.ended...),
		append([]TaskReport(nil), r.tasks...), append([]Event(nil), r.events...)
}

func newObserved(t *testing.T, n int, encode bool) (*Local, *lineage.Registry, *recorder) {
	t.Helper()
	reg := lineage.NewRegistry()
	rec := &recorder{}
	l, err := NewLocal(n, registry{reg}, LocalConfig{Encode: encode, Config: Config{Observer: rec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, reg, rec
}

// The observer sees a job start and end, and every task attempt of its map
// and result stages with its worker, records, shuffle bytes and the
// figures its compute function recorded.
func TestObserverSeesJobsTasksAndFigures(t *testing.T) {
	for _, encode := range []bool{false, true} {
		l, reg, rec := newObserved(t, 2, encode)
		sc := reg.Scope(1, 7)
		var calls = new(atomicCounter)
		src := sc.New("source", ints{}, 4, func(tc lineage.TaskContext, p int) (any, error) {
			calls.inc()
			lineage.Record(tc, lineage.Figure{Key: "test/rows", Time: 7, Part: p, Parts: 4, Value: int64(5)})
			return []int{p, p + 10, p + 20, p + 30, p + 40}, nil
		})
		sum := modShuffle(sc, src, 3)
		if _, err := l.Driver.RunJob(context.Background(), sum, 7, collect); err != nil {
			t.Fatal(err)
		}
		started, ended, tasks, _ := rec.snapshot()
		if len(started) != 1 || len(ended) != 1 || ended[0].Err != nil || ended[0].Batch != 7 || ended[0].Ended.Before(ended[0].Started) {
			t.Fatalf("encode=%v: jobs started %+v, ended %+v", encode, started, ended)
		}
		maps, results, figures := 0, 0, 0
		for _, task := range tasks {
			if task.Status != TaskOK || task.Worker == "" || task.Launched.IsZero() || task.Batch != 7 || task.Task.Job != ended[0].Job {
				t.Errorf("encode=%v: task %+v", encode, task)
			}
			if task.Map {
				maps++
				if task.Records != 5 || task.ShuffleWriteBytes <= 0 {
					t.Errorf("encode=%v: map task wrote %d records, %d bytes", encode, task.Records, task.ShuffleWriteBytes)
				}
			} else {
				results++
				if task.ShuffleReadBytes <= 0 {
					t.Errorf("encode=%v: result task read %d shuffle bytes", encode, task.ShuffleReadBytes)
				}
			}
			for _, f := range task.Figures {
				if f.Key == "test/rows" && f.Value == 5 {
					figures++
				}
			}
		}
		if maps != 4 || results != 3 || figures != 4 {
			t.Errorf("encode=%v: %d map tasks, %d result tasks, %d figures; want 4, 3, 4", encode, maps, results, figures)
		}
	}
}

// A worker lost with attempts running: its attempts are reported
// cancelled, an event says how much it held, and the job completes.
func TestObserverSeesWorkerLoss(t *testing.T) {
	l, reg, rec := newObserved(t, 3, false)
	sc := reg.Scope(1, 1)
	release := make(chan struct{})
	started := new(atomicCounter)
	slow := sc.New("slow", ints{}, 6, func(tc lineage.TaskContext, p int) (any, error) {
		started.inc()
		select {
		case <-release:
		case <-tc.Context().Done():
			return nil, tc.Context().Err()
		}
		return []int{p}, nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := l.Driver.RunJob(context.Background(), slow, 1, collect)
		done <- err
	}()
	for started.get() < 3 {
		time.Sleep(time.Millisecond)
	}
	victim := l.Workers()[1]
	if err := l.Driver.WorkerLost(victim); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, _, tasks, events := rec.snapshot()
	cancelled := 0
	for _, task := range tasks {
		if task.Worker == victim && task.Status == TaskCancelled {
			cancelled++
		}
	}
	if cancelled == 0 {
		t.Errorf("no cancelled attempt on %s in %+v", victim, tasks)
	}
	var joined, lost int
	for _, e := range events {
		switch e.Kind {
		case EventWorkerJoined:
			joined++
		case EventWorkerLost:
			lost++
			if e.Worker != victim || !strings.Contains(e.Message, "running tasks") {
				t.Errorf("lost event %+v", e)
			}
		}
	}
	if joined != 3 || lost != 1 {
		t.Errorf("%d joined and %d lost events: %+v", joined, lost, events)
	}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) inc() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCounter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
