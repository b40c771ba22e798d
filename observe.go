package sluice

import (
	"maps"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/ui"

	"github.com/sluicehq/sluice/internal/metrics"
)

// observer serves the driver's metrics and status (see the HTTP option).
type observer struct {
	m   *metrics.Driver
	srv *metrics.Server
}

// Status is the driver's JSON status at /status.
type Status struct {
	Master  string          `json:"master"`
	BatchMS int64           `json:"batch_ms"`
	Batches []metrics.Batch `json:"batches"`
	Workers []WorkerStatus  `json:"workers"`
	Running []TaskStatus    `json:"running_tasks"`
	// Tasks counts task attempts launched and failed since the start.
	TasksLaunched int64 `json:"tasks_launched"`
	TasksFailed   int64 `json:"tasks_failed"`
	// Speculative copies launched since the start, those that finished
	// first (won) and those cancelled or failed (wasted); worker
	// exclusions since the start.
	SpeculativeLaunched int `json:"speculative_launched"`
	SpeculativeWon      int `json:"speculative_won"`
	SpeculativeWasted   int `json:"speculative_wasted"`
	Exclusions          int `json:"exclusions"`
	// Inputs are the inputs that backpressure or MaxRate limit, with
	// their current rate limit.
	Inputs []InputStatus `json:"inputs,omitempty"`
	// BadRecords counts, by input, the bad records sent to its
	// dead-letter sink since the start (see DeadLetter).
	BadRecords map[string]int64 `json:"bad_records,omitempty"`
}

// WorkerStatus describes a worker in the status.
type WorkerStatus struct {
	Name         string    `json:"name"`
	Addr         string    `json:"addr,omitempty"`
	Metrics      string    `json:"metrics,omitempty"`
	PID          int       `json:"pid,omitempty"`
	Slots        int       `json:"slots"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
	Blocks       int       `json:"blocks"`
	MemoryBytes  int64     `json:"memory_bytes"`
	SpilledBytes int64     `json:"spilled_bytes"`
	Running      int       `json:"running_tasks"`
	Tasks        int       `json:"tasks"`
	// Excluded says the worker gets no new tasks for now (it kept
	// failing or straggling).
	Excluded bool `json:"excluded,omitempty"`
	// Draining says the worker is leaving: it gets no new tasks, and
	// what only it holds is being moved (see ScaleWorkers).
	Draining bool `json:"draining,omitempty"`
}

// TaskStatus is a running task attempt.
type TaskStatus struct {
	Job       int64  `json:"job"`
	Stage     int64  `json:"stage"`
	Partition int    `json:"partition"`
	Attempt   int    `json:"attempt"`
	Worker    string `json:"worker"`
	// Speculative says the attempt is a backup copy of a straggler.
	Speculative bool `json:"speculative,omitempty"`
}

// startObserver starts the HTTP endpoint, if configured (c.mu held).
func (c *Context) startObserver() error {
	if c.cfg.http == "" {
		return nil
	}
	stat := func(f func(s statsView) float64) func() float64 {
		return func() float64 { return f(statsView{c.env.driver.Stats()}) }
	}
	m := metrics.NewDriver(metrics.DriverGauges{
		Workers:             stat(func(s statsView) float64 { return float64(s.Workers) }),
		RunningTasks:        stat(func(s statsView) float64 { return float64(len(s.Running)) }),
		CachedBlocks:        stat(func(s statsView) float64 { return float64(s.CachedBlocks) }),
		Shuffles:            stat(func(s statsView) float64 { return float64(s.Shuffles) }),
		TasksLaunched:       stat(func(s statsView) float64 { return float64(s.TasksLaunched) }),
		TasksFailed:         stat(func(s statsView) float64 { return float64(s.TasksFailed) }),
		SpeculativeLaunched: stat(func(s statsView) float64 { return float64(s.Speculation.SpeculativeLaunched) }),
		SpeculativeWon:      stat(func(s statsView) float64 { return float64(s.Speculation.SpeculativeWon) }),
		SpeculativeWasted:   stat(func(s statsView) float64 { return float64(s.Speculation.SpeculativeWasted) }),
		Exclusions:          stat(func(s statsView) float64 { return float64(s.Speculation.Exclusions) }),
		ExcludedWorkers:     stat(func(s statsView) float64 { return float64(len(s.Excluded)) }),
	})
	mh := m.Handler(func() any { return c.Status() })
	mux := http.NewServeMux()
	mux.Handle("/metrics", mh)
	mux.Handle("/status", mh)
	if c.hist != nil {
		mux.Handle("/", ui.Handler(uiSource{c}))
	}
	tries := 1 // an address asked for is that address: probes and proxies point at it
	if c.cfg.http == DefaultUI {
		tries = metrics.PortTries
	}
	srv, err := metrics.ServeFrom(c.cfg.http, tries, mux)
	if err != nil {
		return err
	}
	c.obs = &observer{m: m, srv: srv}
	c.cfg.logger.Info("serving the web UI", "ui", "http://"+srv.Addr()+"/", "metrics", "http://"+srv.Addr()+"/metrics", "status", "http://"+srv.Addr()+"/status")
	return nil
}

// HTTPAddr returns the address of the metrics and status endpoint once
// the context started ("" when the HTTP option is not set).
func (c *Context) HTTPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.obs == nil {
		return ""
	}
	return c.obs.srv.Addr()
}

// observeBatch records a batch in the metrics.
func (c *Context) observeBatch(b BatchInfo) {
	if c.obs == nil {
		return
	}
	mb := metrics.Batch{Time: b.Time, InputRecords: b.Records, SchedulingDelayMS: ms(b.SchedulingDelay),
		ProcessingMS: ms(b.ProcessingTime), TotalDelayMS: ms(b.TotalDelay)}
	if b.Err != nil {
		mb.Error = b.Err.Error()
	}
	c.obs.m.ObserveBatch(mb)
	if c.hist != nil {
		c.hist.batchDone(b, c.cfg.batch)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Status returns the job's status: recent batches (when the HTTP option
// is set), workers and running tasks.
func (c *Context) Status() Status {
	c.mu.Lock()
	obs, drv := c.obs, c.env.driver
	c.mu.Unlock()
	st := Status{Master: c.cfg.master, BatchMS: c.cfg.batch.Milliseconds(), Inputs: c.inputStatus()}
	c.mu.Lock()
	if len(c.bad) > 0 {
		st.BadRecords = maps.Clone(c.bad)
	}
	c.mu.Unlock()
	if obs != nil {
		st.Batches = obs.m.Recent()
	}
	if drv == nil {
		return st
	}
	s := drv.Stats()
	st.TasksLaunched, st.TasksFailed = s.TasksLaunched, s.TasksFailed
	st.SpeculativeLaunched, st.SpeculativeWon = s.Speculation.SpeculativeLaunched, s.Speculation.SpeculativeWon
	st.SpeculativeWasted, st.Exclusions = s.Speculation.SpeculativeWasted, s.Speculation.Exclusions
	for _, r := range s.Running {
		st.Running = append(st.Running, TaskStatus{Job: int64(r.Task.Job), Stage: int64(r.Task.Stage),
			Partition: r.Task.Partition, Attempt: r.Task.Attempt, Worker: r.Worker, Speculative: r.Task.Speculative})
	}
	excluded := make(map[string]bool, len(s.Excluded))
	for _, w := range s.Excluded {
		excluded[w] = true
	}

	if c.cl != nil {
		for _, w := range c.cl.drv.Workers() {
			st.Workers = append(st.Workers, WorkerStatus{Name: w.Name, Addr: w.Addr, Metrics: w.Metrics, PID: w.PID,
				Slots: w.Slots, LastSeen: w.LastSeen, Blocks: w.Blocks, MemoryBytes: w.MemoryBytes,
				SpilledBytes: w.SpilledBytes, Running: w.Running, Tasks: w.Tasks, Excluded: excluded[w.Name], Draining: w.Draining})
		}
	} else if c.env.local != nil {
		for _, name := range c.env.local.Workers() {
			w := c.env.local.Worker(name)
			bs := w.Blocks.Stats()
			st.Workers = append(st.Workers, WorkerStatus{Name: name, Slots: w.Slots, Blocks: bs.Blocks,
				MemoryBytes: bs.MemoryBytes, SpilledBytes: bs.SpilledBytes, Running: w.Running(), Excluded: excluded[name]})
		}
	}
	return st
}

// statsView names the driver's counters for the gauges.
type statsView struct{ runtime.Stats }

// countBad counts n bad records of input that its dead-letter output wrote.
func (c *Context) countBad(input string, n int64) {
	c.mu.Lock()
	if c.bad == nil {
		c.bad = make(map[string]int64)
	}
	c.bad[input] += n
	obs := c.obs
	c.mu.Unlock()
	if obs != nil {
		obs.m.AddBadRecords(input, n)
	}
}
