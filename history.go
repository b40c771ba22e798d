package sluice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/ui"
)

// Bounds on what the UI's history keeps: it never grows with the job's age.
const (
	keepBatchRows    = 1000  // batch rows (the charts' points)
	keepBatchDetails = 120   // batches kept with their jobs, stages and tasks
	keepTasks        = 20000 // task attempts kept per batch
	keepEvents       = 1000  // event log entries
	keepLostWorkers  = 100   // lost workers remembered
	keepFigureTimes  = 8     // batches of figures kept per stateful operator
)

// history is the driver's record of recent batches, jobs, tasks, events
// and state figures, for the web UI. The runtime's driver feeds it on its
// event loop (runtime.Observer), the batch loop after each batch; HTTP
// handlers read it. One mutex guards it all: every call is short.
type history struct {
	c       *Context
	started time.Time

	mu sync.Mutex
	// rows are the completed batches, oldest first.
	rows []ui.Batch
	// details holds the recent batches' jobs (by batch time), detailOrder
	// their times, oldest first.
	details     map[int64]*batchDetail
	detailOrder []int64
	// jobBatch says which batch each job belongs to, while it is kept.
	jobBatch map[int64]int64
	events   []ui.Event
	seq      int64
	// workers remembers when each worker joined and was lost.
	workers map[string]*workerTimes
	lost    []string
	// figures are the stateful operators' figures, by name.
	figures map[string]*opFigures
	// Totals since the driver started.
	batches, failed, records int64
	// lastLoss is the latest worker loss not yet followed by a completed
	// batch (recovery events).
	lastLoss     time.Time
	lastLossName string
	// rates are the rate limits last reported in an event, by input.
	rates map[string]float64
}

type batchDetail struct {
	jobs    []*ui.Job
	byJob   map[int64]*ui.Job
	stages  map[[2]int64]int // (job, stage) -> index in the job's stages
	tasks   int
	failed  int
	spec    int
	dropped int
}

// workerTimes is what the history keeps of a worker: when it joined and
// was lost, and its last row while alive (shown once it is lost).
type workerTimes struct {
	joined, lost time.Time
	last         ui.Worker
}

// opFigures holds a stateful operator's figures of its recent batches.
type opFigures struct {
	byTime map[int64]*timeFigures
	// evictedTotal counts evictions of every (batch, partition) once.
	evictedTotal int64
}

type timeFigures struct {
	parts  int
	values map[int]*[3]int64 // partition -> keys, bytes, evicted
}

func newHistory(c *Context) *history {
	return &history{c: c, started: time.Now(), details: make(map[int64]*batchDetail), jobBatch: make(map[int64]int64),
		workers: make(map[string]*workerTimes), figures: make(map[string]*opFigures), rates: make(map[string]float64)}
}

// detail returns batch t's detail, making it (and forgetting the oldest)
// if needed (h.mu held).
func (h *history) detail(t int64) *batchDetail {
	if d := h.details[t]; d != nil {
		return d
	}
	d := &batchDetail{byJob: make(map[int64]*ui.Job), stages: make(map[[2]int64]int)}
	h.details[t] = d
	i := sort.Search(len(h.detailOrder), func(i int) bool { return h.detailOrder[i] > t })
	h.detailOrder = append(h.detailOrder, 0)
	copy(h.detailOrder[i+1:], h.detailOrder[i:])
	h.detailOrder[i] = t
	for len(h.detailOrder) > keepBatchDetails {
		old := h.details[h.detailOrder[0]]
		for id := range old.byJob {
			delete(h.jobBatch, id)
		}
		delete(h.details, h.detailOrder[0])
		h.detailOrder = h.detailOrder[1:]
	}
	return d
}

// JobStarted implements runtime.Observer.
func (h *history) JobStarted(r runtime.JobReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.detail(r.Batch)
	j := &ui.Job{ID: int64(r.Job), Output: h.c.datasetName(r.Dataset, r.Op), Started: r.Started, Stages: []ui.Stage{}}
	d.jobs = append(d.jobs, j)
	d.byJob[j.ID] = j
	h.jobBatch[j.ID] = r.Batch
}

// JobEnded implements runtime.Observer.
func (h *history) JobEnded(r runtime.JobReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.jobBatch[int64(r.Job)]
	if !ok {
		return
	}
	if j := h.details[t].byJob[int64(r.Job)]; j != nil {
		j.DurationMS = ms(r.Ended.Sub(r.Started))
		if r.Err != nil {
			j.Error = r.Err.Error()
		}
	}
}

// TaskEnded implements runtime.Observer.
func (h *history) TaskEnded(r runtime.TaskReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Status == runtime.TaskOK {
		h.addFigures(r.Figures)
	}
	t, ok := h.jobBatch[int64(r.Task.Job)]
	if !ok {
		return
	}
	d := h.details[t]
	j := d.byJob[int64(r.Task.Job)]
	if d.tasks >= keepTasks {
		d.dropped++
		return
	}
	key := [2]int64{j.ID, int64(r.Task.Stage)}
	i, ok := d.stages[key]
	if !ok {
		i = len(j.Stages)
		d.stages[key] = i
		j.Stages = append(j.Stages, ui.Stage{ID: int64(r.Task.Stage), Dataset: h.c.datasetName(r.Dataset, r.Op), Map: r.Map})
	}
	d.tasks++
	if r.Status == runtime.TaskFailed {
		d.failed++
	}
	if r.Task.Speculative {
		d.spec++
	}
	j.Stages[i].Tasks = append(j.Stages[i].Tasks, ui.Task{Partition: r.Task.Partition, Attempt: r.Task.Attempt, Worker: r.Worker,
		Speculative: r.Task.Speculative, Launched: r.Launched, DurationMS: ms(r.Duration), Records: int64(r.Records),
		ShuffleWriteBytes: r.ShuffleWriteBytes, ShuffleReadBytes: r.ShuffleReadBytes, Status: r.Status, Error: r.Err})
}

// addFigures files the state figures of a finished task (h.mu held). A
// partition computed again (recovery) overwrites its slot with the same
// values, so evictions are counted once.
func (h *history) addFigures(fs []lineage.Figure) {
	for _, f := range fs {
		rest, ok := strings.CutPrefix(f.Key, "state/")
		i := strings.LastIndexByte(rest, '/')
		if !ok || i < 0 {
			continue
		}
		name, fig := rest[:i], rest[i+1:]
		k := map[string]int{figKeys: 0, figBytes: 1, figEvicted: 2}
		idx, ok := k[fig]
		if !ok {
			continue
		}
		of := h.figures[name]
		if of == nil {
			of = &opFigures{byTime: make(map[int64]*timeFigures)}
			h.figures[name] = of
		}
		tf := of.byTime[f.Time]
		if tf == nil {
			tf = &timeFigures{parts: f.Parts, values: make(map[int]*[3]int64)}
			of.byTime[f.Time] = tf
			of.forgetOld()
		}
		v := tf.values[f.Part]
		if v == nil {
			v = &[3]int64{-1, -1, -1}
			tf.values[f.Part] = v
		}
		if idx == 2 && v[2] < 0 {
			of.evictedTotal += f.Value
		}
		v[idx] = f.Value
	}
}

// forgetOld keeps the figures of the newest keepFigureTimes batches.
func (of *opFigures) forgetOld() {
	for len(of.byTime) > keepFigureTimes {
		oldest := int64(-1)
		for t := range of.byTime {
			if oldest < 0 || t < oldest {
				oldest = t
			}
		}
		delete(of.byTime, oldest)
	}
}

// Event implements runtime.Observer.
func (h *history) Event(e runtime.Event) {
	var batch time.Time
	if e.Batch > 0 {
		batch = time.Unix(0, e.Batch)
	}
	h.add(ui.Event{Kind: e.Kind, Worker: e.Worker, Batch: batch, Message: e.Message})
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e.Kind {
	case runtime.EventWorkerJoined:
		h.workers[e.Worker] = &workerTimes{joined: time.Now()}
	case runtime.EventWorkerLost:
		w := h.workers[e.Worker]
		if w == nil {
			w = &workerTimes{}
			h.workers[e.Worker] = w
		}
		w.lost = time.Now()
		h.lastLoss, h.lastLossName = w.lost, e.Worker
		h.lost = append(h.lost, e.Worker)
		if len(h.lost) > keepLostWorkers {
			if x := h.workers[h.lost[0]]; x != nil && !x.lost.IsZero() {
				delete(h.workers, h.lost[0])
			}
			h.lost = h.lost[1:]
		}
	}
}

// add appends an event to the log.
func (h *history) add(e ui.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq, e.Time = h.seq, time.Now()
	h.events = append(h.events, e)
	if len(h.events) > keepEvents {
		h.events = h.events[len(h.events)-keepEvents:]
	}
}

// batchDone records a completed batch (on the batch loop, in order).
func (h *history) batchDone(b BatchInfo, interval time.Duration) {
	row := ui.Batch{Time: b.Time, InputRecords: b.Records, InputRate: float64(b.Records) / interval.Seconds(),
		SchedulingDelayMS: ms(b.SchedulingDelay), ProcessingMS: ms(b.ProcessingTime), TotalDelayMS: ms(b.TotalDelay)}
	if b.Err != nil {
		row.Error = b.Err.Error()
	}
	var recovered string
	h.mu.Lock()
	if d := h.details[b.Time.UnixNano()]; d != nil {
		row.Jobs, row.Tasks, row.FailedTasks, row.Speculative = len(d.jobs), d.tasks, d.failed, d.spec
	}
	h.rows = append(h.rows, row)
	if len(h.rows) > keepBatchRows {
		h.rows = h.rows[len(h.rows)-keepBatchRows:]
	}
	h.batches++
	h.records += b.Records
	if b.Err != nil {
		h.failed++
	} else if !h.lastLoss.IsZero() {
		recovered = fmt.Sprintf("batch %s completed %v after %s was lost (total delay %v)",
			b.Time.Format("15:04:05.000"), time.Since(h.lastLoss).Round(time.Millisecond), h.lastLossName, b.TotalDelay.Round(time.Millisecond))
		h.lastLoss = time.Time{}
	}
	h.mu.Unlock()
	if b.Err != nil {
		h.add(ui.Event{Kind: ui.EventBatchFailed, Batch: b.Time, Message: "batch failed: " + b.Err.Error()})
	}
	if recovered != "" {
		h.add(ui.Event{Kind: ui.EventRecovery, Batch: b.Time, Message: recovered})
	}
}

// rateChanged logs an input's new rate limit when it moved by half or
// more since the last one logged (backpressure adjusts it every batch).
func (h *history) rateChanged(input string, rate float64) {
	h.mu.Lock()
	last, seen := h.rates[input]
	big := !seen || (last == 0) != (rate == 0) || rate > last*1.5 || rate < last/1.5
	if big {
		h.rates[input] = rate
	}
	h.mu.Unlock()
	if !big || (!seen && rate == 0) {
		return
	}
	msg := fmt.Sprintf("input %s: rate limit %.0f records/s", input, rate)
	if rate == 0 {
		msg = fmt.Sprintf("input %s: no rate limit", input)
	}
	h.add(ui.Event{Kind: ui.EventRateChange, Message: msg})
}

// uiEvent adds an event to the UI's log, if the UI is on.
func (c *Context) uiEvent(kind string, batch time.Time, format string, args ...any) {
	if c.hist != nil {
		c.hist.add(ui.Event{Kind: kind, Batch: batch, Message: fmt.Sprintf(format, args...)})
	}
}

// observer returns the runtime's observer (nil when the UI is off).
func (c *Context) observer() runtime.Observer {
	if c.hist == nil {
		return nil
	}
	return c.hist
}

// datasetName names a dataset for the UI: its graph node's kind and name,
// and its operator when that differs ("Map#3 map", "clicks flatMap").
func (c *Context) datasetName(id lineage.ID, op string) string {
	n := c.nodeByID(id.Node)
	if n == nil {
		return op
	}
	label := fmt.Sprintf("%s#%d", n.kind, n.id)
	if n.name != "" {
		label = fmt.Sprintf("%s %q", n.kind, n.name)
	}
	if op != "" && !strings.EqualFold(op, n.kind) {
		label += " · " + op
	}
	return label
}

// uiSource serves the UI from the context and its history.
type uiSource struct{ c *Context }

var _ ui.Source = uiSource{}

func (s uiSource) Overview() ui.Overview {
	c, h := s.c, s.c.hist
	st := c.Status()
	o := ui.Overview{Master: c.cfg.master, BatchMS: c.cfg.batch.Milliseconds(), Started: h.started, Now: time.Now(),
		RunningTasks: len(st.Running), Checkpoint: c.cfg.checkpoint}
	for _, w := range s.Workers() {
		if w.State == "lost" {
			o.WorkersLost++
		} else {
			o.WorkersAlive++
		}
	}
	for _, in := range st.Inputs {
		o.Inputs = append(o.Inputs, ui.Input{Name: in.Input, RateLimit: in.RateLimit, BadRecords: st.BadRecords[in.Input]})
	}
	h.mu.Lock()
	o.Batches, o.FailedBatches, o.InputRecords = h.batches, h.failed, h.records
	h.mu.Unlock()
	return o
}

func (s uiSource) Batches(since time.Time) []ui.Batch {
	h := s.c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.rows), func(i int) bool { return h.rows[i].Time.After(since) })
	return append([]ui.Batch{}, h.rows[i:]...)
}

func (s uiSource) Batch(t time.Time) (ui.BatchDetail, bool) {
	h := s.c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.details[t.UnixNano()]
	var row *ui.Batch
	for i := len(h.rows) - 1; i >= 0 && row == nil; i-- {
		if h.rows[i].Time.Equal(t) {
			row = &h.rows[i]
		}
	}
	if d == nil && row == nil {
		return ui.BatchDetail{}, false
	}
	out := ui.BatchDetail{Jobs: []ui.Job{}}
	if row != nil {
		out.Batch = *row
	} else {
		out.Batch = ui.Batch{Time: t} // running
	}
	if d != nil {
		for _, j := range d.jobs {
			cj := *j
			cj.Stages = make([]ui.Stage, len(j.Stages))
			for i, st := range j.Stages {
				cj.Stages[i] = st
				cj.Stages[i].Tasks = append([]ui.Task{}, st.Tasks...)
			}
			out.Jobs = append(out.Jobs, cj)
		}
		out.Tasks, out.FailedTasks, out.Speculative = d.tasks, d.failed, d.spec
	}
	return out, true
}

func (s uiSource) Workers() []ui.Worker {
	c, h := s.c, s.c.hist
	st := c.Status()
	running := make(map[string]int)
	for _, r := range st.Running {
		running[r.Worker]++
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ui.Worker
	live := make(map[string]bool)
	for _, w := range st.Workers {
		live[w.Name] = true
		state := "alive"
		switch {
		case w.Draining:
			state = "draining"
		case w.Excluded:
			state = "excluded"
		}
		row := ui.Worker{Name: w.Name, Addr: w.Addr, PID: w.PID, State: state, Cores: w.Slots, MemoryBytes: w.MemoryBytes,
			SpilledBytes: w.SpilledBytes, Blocks: w.Blocks, Running: max(w.Running, running[w.Name]), Tasks: w.Tasks, LastSeen: w.LastSeen}
		if t := h.workers[w.Name]; t != nil {
			row.Joined = t.joined
			if t.lost.IsZero() {
				t.last = row
			}
		}
		out = append(out, row)
	}
	for _, name := range h.lost {
		t := h.workers[name]
		if live[name] || t == nil || t.lost.IsZero() {
			continue
		}
		live[name] = true
		// Its last known row: address, pid, cores and tasks run; it holds
		// no memory, blocks or running tasks any more.
		row := t.last
		row.Name, row.State, row.Joined, row.Lost = name, "lost", t.joined, t.lost
		row.MemoryBytes, row.SpilledBytes, row.Blocks, row.Running = 0, 0, 0, 0
		out = append(out, row)
	}
	return out
}

func (s uiSource) Events(after int64) []ui.Event {
	h := s.c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.events), func(i int) bool { return h.events[i].Seq > after })
	return append([]ui.Event{}, h.events[i:]...)
}

func (s uiSource) Graph() ui.Graph {
	c := s.c
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	g := ui.Graph{Nodes: []ui.Node{}, Edges: []ui.Edge{}}
	for _, n := range nodes {
		g.Nodes = append(g.Nodes, ui.Node{ID: int(n.id), Kind: n.kind, Name: n.name, Type: n.typ,
			Input: len(n.parents) == 0, Output: n.output != nil, Stateful: n.view != nil, SlideMS: n.slide.Milliseconds()})
		for _, p := range n.parents {
			g.Edges = append(g.Edges, ui.Edge{From: int(p.id), To: int(n.id)})
		}
	}
	return g
}

func (s uiSource) Operators() []ui.Operator {
	c, h := s.c, s.c.hist
	c.mu.Lock()
	var ops []*node
	for _, n := range c.names {
		if n.view != nil {
			ops = append(ops, n)
		}
	}
	c.mu.Unlock()
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []ui.Operator{}
	for _, n := range ops {
		op := ui.Operator{Name: n.name, Kind: n.kind, Node: int(n.id), CheckpointEvery: n.truncateEvery}
		if of := h.figures[n.name]; of != nil {
			op.EvictionsTotal = of.evictedTotal
			if t, tf := of.latestComplete(); tf != nil {
				op.Batch, op.Partitions = time.Unix(0, t), tf.parts
				for _, v := range tf.values {
					op.Keys += max(v[0], 0)
					op.Bytes += max(v[1], 0)
					op.Evictions += max(v[2], 0)
				}
			}
		}
		out = append(out, op)
	}
	return out
}

// latestComplete returns the newest batch whose figures cover every
// partition.
func (of *opFigures) latestComplete() (int64, *timeFigures) {
	best, bt := int64(-1), (*timeFigures)(nil)
	for t, tf := range of.byTime {
		if len(tf.values) == tf.parts && t > best {
			best, bt = t, tf
		}
	}
	return best, bt
}

func (s uiSource) Lookup(ctx context.Context, q ui.Query) (ui.StateEntries, error) {
	return s.c.lookupState(ctx, q)
}
