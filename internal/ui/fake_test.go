package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// fakeSource is a Source for the tests: a job with a fixed graph whose
// batches, workers and events the test changes as it goes. Its figures
// are derived from the batch number, so they are deterministic.
type fakeSource struct {
	mu      sync.Mutex
	started time.Time
	batchMS int64
	batches []BatchDetail
	workers []Worker
	events  []Event
	graph   Graph
	ops     []Operator
	// state holds the stateful operators' entries (key → value as JSON);
	// an operator of ops without state answers ErrNoState.
	state map[string]map[string]json.RawMessage
	// lookups records the queries Lookup got, with the time left before
	// their context's deadline.
	lookups   []Query
	deadlines []time.Duration
}

// fakeStart is the fake job's start: a fixed time, so batch times are
// known.
var fakeStart = time.UnixMilli(1_767_225_600_000) // 2026-01-01T00:00:00Z

func newFakeSource() *fakeSource {
	f := &fakeSource{
		started: fakeStart,
		batchMS: 1000,
		workers: []Worker{
			{Name: "worker-1", Addr: "127.0.0.1:7101", PID: 4101, State: "alive", Cores: 4, MemoryBytes: 512 << 20, Blocks: 12, Tasks: 40, Joined: fakeStart},
			{Name: "worker-2", Addr: "127.0.0.1:7102", PID: 4102, State: "alive", Cores: 4, MemoryBytes: 300 << 20, SpilledBytes: 64 << 20, Blocks: 9, Running: 2, Tasks: 38, Joined: fakeStart},
			{Name: "worker-3", Addr: "127.0.0.1:7103", PID: 4103, State: "draining", Cores: 2, MemoryBytes: 100 << 20, Blocks: 3, Tasks: 11, Joined: fakeStart.Add(2 * time.Second)},
		},
		graph: Graph{
			Nodes: []Node{
				{ID: 0, Kind: "KafkaInput", Name: "clicks", Type: "sluice.KV[string,[]uint8]", Input: true, SlideMS: 1000},
				{ID: 1, Kind: "SocketInput", Name: "views", Type: "string", Input: true, SlideMS: 1000},
				{ID: 2, Kind: "Map", Type: "demo.Click", SlideMS: 1000},
				{ID: 3, Kind: "Filter", Name: "valid", Type: "demo.Click", SlideMS: 1000},
				{ID: 4, Kind: "FlatMap", Type: "string", SlideMS: 1000},
				{ID: 5, Kind: "Union", Type: "string", SlideMS: 1000},
				{ID: 6, Kind: "UpdateStateByKey", Name: "counts", Type: "sluice.KV[string,int64]", Stateful: true, SlideMS: 1000},
				{ID: 7, Kind: "ReduceByKeyAndWindow", Name: "per-minute", Type: "sluice.KV[string,int64]", Stateful: true, SlideMS: 5000},
				{ID: 8, Kind: "Output", Name: "postgres", Type: "sluice.KV[string,int64]", Output: true, SlideMS: 1000},
				{ID: 9, Kind: "Output", Name: "print", Type: "sluice.KV[string,int64]", Output: true, SlideMS: 5000},
			},
			Edges: []Edge{{0, 2}, {2, 3}, {1, 4}, {3, 5}, {4, 5}, {5, 6}, {5, 7}, {6, 8}, {7, 9}, {0, 7}},
		},
		ops: []Operator{
			{Name: "counts", Kind: "UpdateStateByKey", Node: 6, Keys: 3, Bytes: 4096, Evictions: 1, EvictionsTotal: 7, Partitions: 4, CheckpointEvery: 10},
			{Name: "fresh", Kind: "MapWithState", Node: 7, Partitions: 2, CheckpointEvery: 5},
		},
		state: map[string]map[string]json.RawMessage{
			"counts": {
				"apple":     json.RawMessage(`{"count":42,"last":"2026-01-01T00:00:05Z"}`),
				"banana":    json.RawMessage(`{"count":7,"last":"2026-01-01T00:00:04Z"}`),
				"a b&c=d/é": json.RawMessage(`{"count":1,"last":"2026-01-01T00:00:03Z"}`),
			},
		},
	}
	f.ops[0].Batch = fakeStart
	return f
}

// addBatch completes the next batch and returns it: two jobs, the first
// with a shuffle map stage (one task failed and retried, one speculative
// copy) and a result stage.
func (f *fakeSource) addBatch() BatchDetail {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := int64(len(f.batches) + 1)
	t := f.started.Add(time.Duration(n*f.batchMS) * time.Millisecond)
	records := 4000 + (n*733)%3000
	sched := float64((n * 7) % 40)
	proc := 250 + float64((n*389)%1100) // some batches take longer than the interval
	b := Batch{
		Time:              t,
		InputRecords:      records,
		InputRate:         float64(records) * 1000 / float64(f.batchMS),
		SchedulingDelayMS: sched,
		ProcessingMS:      proc,
		TotalDelayMS:      sched + proc,
	}
	task := func(p, attempt int, worker, status string, spec bool) Task {
		tk := Task{Partition: p, Attempt: attempt, Worker: worker, Speculative: spec, Launched: t.Add(time.Duration(sched) * time.Millisecond),
			DurationMS: 40 + float64(p*13), Records: records / 4, ShuffleWriteBytes: 2048 * int64(p+1), Status: status}
		if status == "failed" {
			tk.Error = "worker-2: executor: task panicked: <index out of range>"
		}
		return tk
	}
	jobs := []Job{
		{ID: n * 10, Output: "postgres", Started: t, DurationMS: proc * 0.8, Stages: []Stage{
			{ID: n * 100, Dataset: "Map#2@" + fmt.Sprint(n), Map: true, Tasks: []Task{
				task(0, 0, "worker-1", "ok", false),
				task(1, 0, "worker-2", "failed", false),
				task(1, 1, "worker-1", "ok", false),
				task(2, 0, "worker-2", "cancelled", false),
				task(2, 1, "worker-3", "ok", true),
				task(3, 0, "worker-3", "ok", false),
			}},
			{ID: n*100 + 1, Dataset: "UpdateStateByKey#6@" + fmt.Sprint(n), Tasks: []Task{
				task(0, 0, "worker-1", "ok", false),
				task(1, 0, "worker-2", "ok", false),
			}},
		}},
		{ID: n*10 + 1, Output: "print", Started: t.Add(time.Millisecond), DurationMS: proc * 0.2, Stages: []Stage{
			{ID: n*100 + 2, Dataset: "ReduceByKeyAndWindow#7@" + fmt.Sprint(n), Tasks: []Task{
				task(0, 0, "worker-3", "ok", false),
			}},
		}},
	}
	for _, j := range jobs {
		for _, s := range j.Stages {
			for _, tk := range s.Tasks {
				b.Tasks++
				if tk.Status == "failed" {
					b.FailedTasks++
				}
				if tk.Speculative {
					b.Speculative++
				}
			}
		}
	}
	b.Jobs = len(jobs)
	d := BatchDetail{Batch: b, Jobs: jobs}
	f.batches = append(f.batches, d)
	f.ops[0].Batch = t
	return d
}

// tasksPerBatch is the number of task attempts addBatch makes.
const tasksPerBatch = 9

func (f *fakeSource) addEvent(kind, worker, msg string) Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := Event{Seq: int64(len(f.events) + 1), Time: f.started.Add(time.Duration(len(f.events)) * time.Second), Kind: kind, Worker: worker, Message: msg}
	if len(f.batches) > 0 {
		e.Batch = f.batches[len(f.batches)-1].Time
	}
	f.events = append(f.events, e)
	return e
}

func (f *fakeSource) setWorkerState(name, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.workers {
		if f.workers[i].Name == name {
			f.workers[i].State = state
			if state == "lost" {
				f.workers[i].Lost = f.started.Add(time.Minute)
				f.workers[i].Running = 0
			}
		}
	}
}

func (f *fakeSource) Overview() Overview {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := Overview{
		Master:     "local-cluster[3]",
		BatchMS:    f.batchMS,
		Started:    f.started,
		Now:        f.now(),
		Batches:    int64(len(f.batches)),
		Checkpoint: "/var/lib/sluice/checkpoints",
		Inputs:     []Input{{Name: "clicks", RateLimit: 25000}, {Name: "views", BadRecords: 3}},
	}
	for _, b := range f.batches {
		o.InputRecords += b.InputRecords
	}
	for _, w := range f.workers {
		if w.State == "lost" {
			o.WorkersLost++
		} else {
			o.WorkersAlive++
		}
		o.RunningTasks += w.Running
	}
	return o
}

// now is the fake job's clock: a quarter second after its last batch.
func (f *fakeSource) now() time.Time {
	return f.started.Add(time.Duration(int64(len(f.batches))*f.batchMS+250) * time.Millisecond)
}

func (f *fakeSource) Batches(since time.Time) []Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Batch
	for _, b := range f.batches {
		if b.Time.After(since) {
			out = append(out, b.Batch)
		}
	}
	return out
}

func (f *fakeSource) Batch(t time.Time) (BatchDetail, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		if b.Time.Equal(t) {
			return b, true
		}
	}
	return BatchDetail{}, false
}

func (f *fakeSource) Workers() []Worker {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := slices.Clone(f.workers)
	for i := range ws {
		if ws[i].State != "lost" {
			ws[i].LastSeen = f.now().Add(-time.Duration(200*(i+1)) * time.Millisecond)
		} else {
			ws[i].LastSeen = ws[i].Lost.Add(-10 * time.Second)
		}
	}
	return ws
}

func (f *fakeSource) Events(after int64) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, e := range f.events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeSource) Graph() Graph {
	return f.graph // never changed
}

func (f *fakeSource) Operators() []Operator {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

func (f *fakeSource) Lookup(ctx context.Context, q Query) (StateEntries, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, q)
	if d, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(d))
	} else {
		f.deadlines = append(f.deadlines, 0)
	}
	if q.Operator == "counts" && q.HasKey && q.Key == "not-a-key" {
		return StateEntries{}, fmt.Errorf("%w: key %q is not an int", ErrBadQuery, q.Key)
	}
	if q.Operator == "broken" {
		return StateEntries{}, fmt.Errorf("fake: reading partition 3 of %q: connection refused", q.Operator)
	}
	i := slices.IndexFunc(f.ops, func(o Operator) bool { return o.Name == q.Operator })
	if i < 0 {
		return StateEntries{}, fmt.Errorf("%w: %q", ErrUnknownOperator, q.Operator)
	}
	st, ok := f.state[q.Operator]
	if !ok {
		return StateEntries{}, fmt.Errorf("%w: %q has not completed a batch", ErrNoState, q.Operator)
	}
	e := StateEntries{Operator: q.Operator, Batch: f.ops[i].Batch, Partitions: f.ops[i].Partitions}
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if q.HasKey {
		e.Partitions = 1
		keys = slices.DeleteFunc(keys, func(k string) bool { return k != q.Key })
	} else if len(keys) > q.Sample {
		keys = keys[:q.Sample]
	}
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		e.Entries = append(e.Entries, Entry{Key: kj, Value: st[k]})
	}
	return e, nil
}

func (f *fakeSource) lastLookup() (Query, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lookups) == 0 {
		return Query{}, 0
	}
	return f.lookups[len(f.lookups)-1], f.deadlines[len(f.deadlines)-1]
}
