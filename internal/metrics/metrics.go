// Package metrics exposes a driver's and a worker's figures: Prometheus
// metrics at /metrics and, on the driver, a JSON status at /status.
//
// # Use
//
//	d := metrics.NewDriver(gauges)      // gauges reads the engine's counters at scrape time
//	d.ObserveBatch(metrics.Batch{…})    // after every batch
//	srv, err := metrics.Serve("127.0.0.1:0", d.Handler(status))
//	defer srv.Close()
//
// Counters the engine already keeps (tasks launched, blocks held) are read
// through functions at scrape time rather than copied, so there is one
// source of truth.
//
// # Dependencies
//
// github.com/prometheus/client_golang: the reference implementation of the
// Prometheus exposition format, used by most Go services; each Sluice
// process has its own registry, so tests can run several in one process.
//
// # Goroutines
//
// Serve starts one goroutine (the HTTP server), stopped by Server.Close.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Batch is one processed batch, as the status shows it.
type Batch struct {
	Time              time.Time `json:"time"`
	InputRecords      int64     `json:"input_records"`
	SchedulingDelayMS float64   `json:"scheduling_delay_ms"`
	ProcessingMS      float64   `json:"processing_ms"`
	TotalDelayMS      float64   `json:"total_delay_ms"`
	Error             string    `json:"error,omitempty"`
}

// DriverGauges reads the engine's own counters.
type DriverGauges struct {
	Workers, RunningTasks, CachedBlocks, Shuffles func() float64
	TasksLaunched, TasksFailed                    func() float64
	// Speculative execution and worker exclusion (counters, but
	// ExcludedWorkers, a gauge).
	SpeculativeLaunched, SpeculativeWon, SpeculativeWasted func() float64
	Exclusions, ExcludedWorkers                            func() float64
}

// keepBatches bounds the batches the status remembers.
const keepBatches = 300

// Driver holds a driver's metrics.
type Driver struct {
	Registry *prometheus.Registry

	batches, failed, records        prometheus.Counter
	processing, scheduling, delayed prometheus.Histogram
	inputRate                       *prometheus.GaugeVec
	badRecords                      *prometheus.CounterVec

	mu     sync.Mutex
	recent []Batch
}

var delayBuckets = prometheus.ExponentialBuckets(0.005, 2, 14) // 5ms .. ~41s

// NewDriver makes a driver's registry. Nil functions in g are skipped.
func NewDriver(g DriverGauges) *Driver {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &Driver{
		Registry:   r,
		batches:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_batches_total", Help: "Batches processed."}),
		failed:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_batches_failed_total", Help: "Batches whose jobs failed."}),
		records:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_input_records_total", Help: "Input records of processed batches."}),
		processing: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_batch_processing_seconds", Help: "Time to run a batch's jobs.", Buckets: delayBuckets}),
		scheduling: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_batch_scheduling_delay_seconds", Help: "Time a batch waited before its first job.", Buckets: delayBuckets}),
		delayed:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_batch_total_delay_seconds", Help: "Time from a batch's end to its results.", Buckets: delayBuckets}),
		inputRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_input_rate_limit",
			Help: "The records per second an input may read, from backpressure and its maximum rate (0: no limit)."}, []string{"input"}),
		badRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_input_bad_records_total",
			Help: "Records an input could not decode or validate, sent to its dead-letter sink."}, []string{"input"}),
	}
	r.MustRegister(d.batches, d.failed, d.records, d.processing, d.scheduling, d.delayed, d.inputRate, d.badRecords)
	gauge, counter := funcs(r)
	gauge("sluice_workers", "Workers connected.", g.Workers)
	gauge("sluice_running_tasks", "Tasks running.", g.RunningTasks)
	gauge("sluice_cached_blocks", "Cached partitions known to the driver.", g.CachedBlocks)
	gauge("sluice_shuffles", "Shuffles with map outputs.", g.Shuffles)
	counter("sluice_tasks_launched_total", "Task attempts launched.", g.TasksLaunched)
	counter("sluice_tasks_failed_total", "Task attempts that failed.", g.TasksFailed)
	counter("sluice_speculative_tasks_launched_total", "Speculative copies of straggling tasks launched.", g.SpeculativeLaunched)
	counter("sluice_speculative_tasks_won_total", "Speculative copies that finished before the original.", g.SpeculativeWon)
	counter("sluice_speculative_tasks_wasted_total", "Speculative copies cancelled or failed.", g.SpeculativeWasted)
	counter("sluice_worker_exclusions_total", "Times a worker was excluded for failing or straggling.", g.Exclusions)
	gauge("sluice_excluded_workers", "Workers excluded now.", g.ExcludedWorkers)
	return d
}

// funcs returns functions that register a gauge or a counter read from f
// at scrape time in r (nothing when f is nil).
func funcs(r *prometheus.Registry) (gauge, counter func(name, help string, f func() float64)) {
	gauge = func(name, help string, f func() float64) {
		if f != nil {
			r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	counter = func(name, help string, f func() float64) {
		if f != nil {
			r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
		}
	}
	return gauge, counter
}

// AddBadRecords counts n bad records of input.
func (d *Driver) AddBadRecords(input string, n int64) {
	d.badRecords.WithLabelValues(input).Add(float64(n))
}

// ObserveBatch records a processed batch.
func (d *Driver) ObserveBatch(b Batch) {
	d.batches.Inc()
	if b.Error != "" {
		d.failed.Inc()
	}
	d.records.Add(float64(max(b.InputRecords, 0)))
	d.processing.Observe(b.ProcessingMS / 1000)
	d.scheduling.Observe(b.SchedulingDelayMS / 1000)
	d.delayed.Observe(b.TotalDelayMS / 1000)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recent = append(d.recent, b)
	if len(d.recent) > keepBatches {
		d.recent = append(d.recent[:0:0], d.recent[len(d.recent)-keepBatches:]...)
	}
}

// SetInputRate records an input's rate limit (records/s; 0: none).
func (d *Driver) SetInputRate(input string, rate float64) {
	d.inputRate.WithLabelValues(input).Set(rate)
}

// Recent returns the last batches, oldest first.
func (d *Driver) Recent() []Batch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Batch(nil), d.recent...)
}

// Handler serves /metrics, and /status with the JSON status returns.
func (d *Driver) Handler(status func() any) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status())
	})
	return mux
}

// WorkerGauges reads a worker's counters.
type WorkerGauges struct {
	RunningTasks, Blocks, MemoryBytes, SpilledBytes, ShuffleOutputs func() float64
	TasksRun, TasksFailed, Records                                  func() float64
	BytesFetched, BytesServed                                       func() float64
}

// WorkerHandler serves a worker's /metrics.
func WorkerHandler(g WorkerGauges) http.Handler {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge, counter := funcs(r)
	gauge("sluice_worker_running_tasks", "Tasks running.", g.RunningTasks)
	gauge("sluice_worker_blocks", "Blocks in the block store.", g.Blocks)
	gauge("sluice_worker_block_memory_bytes", "Estimated bytes of blocks in memory.", g.MemoryBytes)
	gauge("sluice_worker_block_spilled_bytes", "Bytes of blocks spilled to disk.", g.SpilledBytes)
	gauge("sluice_worker_shuffle_outputs", "Map outputs held.", g.ShuffleOutputs)
	counter("sluice_worker_tasks_total", "Tasks run.", g.TasksRun)
	counter("sluice_worker_tasks_failed_total", "Tasks that failed.", g.TasksFailed)
	counter("sluice_worker_records_total", "Records produced by tasks.", g.Records)
	counter("sluice_worker_shuffle_fetched_bytes_total", "Shuffle and block bytes fetched from other workers.", g.BytesFetched)
	counter("sluice_worker_shuffle_served_bytes_total", "Shuffle and block bytes served to other workers.", g.BytesServed)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	return mux
}

// Server is a running HTTP server.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// PortTries is how many ports the driver tries for its default UI address
// (ServeFrom): when 4040 is taken, the next ones, as Spark's UI does, so
// that several drivers can run on one host with the default.
const PortTries = 17

// Serve listens on addr and serves h until Close.
func Serve(addr string, h http.Handler) (*Server, error) { return ServeFrom(addr, 1, h) }

// ServeFrom is Serve that, when addr's port (not 0) is in use, tries the
// next tries-1 ports; Addr says which it got.
func ServeFrom(addr string, tries int, h http.Handler) (*Server, error) {
	l, err := listen(addr, tries)
	if err != nil {
		return nil, err
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, addr: l.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; Close still works
		}
	}()
	return s, nil
}

// Addr is the address served.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits for it.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// listen listens on addr, or on one of the next tries-1 ports if it is
// taken.
func listen(addr string, tries int) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil || tries <= 1 || !errors.Is(err, syscall.EADDRINUSE) {
		if err != nil {
			return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
		}
		return l, nil
	}
	host, port, perr := net.SplitHostPort(addr)
	p, aerr := strconv.Atoi(port)
	if perr != nil || aerr != nil || p == 0 {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	for i := 1; i < tries && p+i <= 65535; i++ {
		if l, err2 := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+i))); err2 == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("metrics: listen on %s and the next %d ports: %w", addr, tries-1, err)
}
