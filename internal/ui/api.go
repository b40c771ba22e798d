package ui

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Source is what the UI shows: the driver implements it. Every method is
// called from HTTP handlers, concurrently; each returns a copy the caller
// may keep.
type Source interface {
	// Overview is the job's header: what runs where, and totals.
	Overview() Overview
	// Batches lists the completed batches after since (all kept, oldest
	// first, when since is zero).
	Batches(since time.Time) []Batch
	// Batch returns a batch with its jobs, stages and tasks.
	Batch(t time.Time) (BatchDetail, bool)
	// Workers lists the workers, live and lost.
	Workers() []Worker
	// Events lists the events whose Seq is above after, oldest first.
	Events(after int64) []Event
	// Graph is the stream graph.
	Graph() Graph
	// Operators lists the stateful operators with their latest figures.
	Operators() []Operator
	// Lookup reads a stateful operator's state as of its latest batch:
	// the entries of key (when q.Key is set) or a sample of q.Sample keys.
	Lookup(ctx context.Context, q Query) (StateEntries, error)
}

// ErrUnknownOperator is returned (wrapped) by Lookup for a name that is
// not a stateful operator of the job; the API answers 404.
var ErrUnknownOperator = errors.New("ui: no such stateful operator")

// ErrBadQuery is returned (wrapped) by Lookup for a key that does not
// parse as the operator's key type, or a sample out of range; the API
// answers 400.
var ErrBadQuery = errors.New("ui: bad state query")

// ErrNoState is returned (wrapped) by Lookup before the operator's first
// batch completed; the API answers 409.
var ErrNoState = errors.New("ui: no state yet")

// Overview is GET /api/overview.
type Overview struct {
	Master  string    `json:"master"`
	BatchMS int64     `json:"batch_ms"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"`
	// Batches counts the batches completed since the driver started,
	// FailedBatches those whose jobs failed.
	Batches       int64 `json:"batches"`
	FailedBatches int64 `json:"failed_batches"`
	// InputRecords counts the records of completed batches.
	InputRecords int64 `json:"input_records"`
	// WorkersAlive and WorkersLost count the workers by state.
	WorkersAlive int `json:"workers_alive"`
	WorkersLost  int `json:"workers_lost"`
	RunningTasks int `json:"running_tasks"`
	// Checkpoint is where checkpoints go ("" when off).
	Checkpoint string `json:"checkpoint,omitempty"`
	// Inputs are the inputs with their current rate limits (records/s,
	// 0: none).
	Inputs []Input `json:"inputs,omitempty"`
}

// Input is an input and the rate it is held to.
type Input struct {
	Name      string  `json:"name"`
	RateLimit float64 `json:"rate_limit"`
	// BadRecords counts the records sent to its dead-letter sink.
	BadRecords int64 `json:"bad_records,omitempty"`
}

// Batch is one completed batch: a row of GET /api/batches and a point of
// every chart.
type Batch struct {
	// Time is the batch time (the end of its interval).
	Time         time.Time `json:"time"`
	InputRecords int64     `json:"input_records"`
	// InputRate is InputRecords per second of batch interval.
	InputRate         float64 `json:"input_rate"`
	SchedulingDelayMS float64 `json:"scheduling_delay_ms"`
	ProcessingMS      float64 `json:"processing_ms"`
	TotalDelayMS      float64 `json:"total_delay_ms"`
	Jobs              int     `json:"jobs"`
	// Tasks counts the task attempts of its jobs; FailedTasks those that
	// failed, Speculative the backup copies launched.
	Tasks       int    `json:"tasks"`
	FailedTasks int    `json:"failed_tasks"`
	Speculative int    `json:"speculative"`
	Error       string `json:"error,omitempty"`
}

// BatchDetail is GET /api/batches/{unix_ms}.
type BatchDetail struct {
	Batch
	Jobs []Job `json:"jobs"`
}

// Job is one job of a batch: an output operation's (or a checkpoint's)
// computation.
type Job struct {
	ID int64 `json:"id"`
	// Output names what the job computed (the output or operator).
	Output     string    `json:"output"`
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"duration_ms"`
	Error      string    `json:"error,omitempty"`
	Stages     []Stage   `json:"stages"`
}

// Stage is a stage of a job: the tasks computing one dataset's
// partitions, up to a shuffle (a map stage) or the job's result.
type Stage struct {
	ID int64 `json:"id"`
	// Dataset names the stage's dataset (operator and lineage id).
	Dataset string `json:"dataset"`
	// Map says the stage writes a shuffle; otherwise it is the job's
	// result stage.
	Map   bool   `json:"map"`
	Tasks []Task `json:"tasks"`
}

// Task is one task attempt.
type Task struct {
	Partition   int       `json:"partition"`
	Attempt     int       `json:"attempt"`
	Worker      string    `json:"worker"`
	Speculative bool      `json:"speculative,omitempty"`
	Launched    time.Time `json:"launched"`
	DurationMS  float64   `json:"duration_ms"`
	// Records is the records the task produced (written to the shuffle,
	// for a map task).
	Records int64 `json:"records"`
	// ShuffleWriteBytes and ShuffleReadBytes estimate the encoded bytes
	// of the shuffle buckets the task wrote and read.
	ShuffleWriteBytes int64 `json:"shuffle_write_bytes"`
	ShuffleReadBytes  int64 `json:"shuffle_read_bytes"`
	// Status is "running", "ok", "failed", or "cancelled" (a
	// speculative race lost, a job cancelled, a worker lost).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Worker is a row of GET /api/workers.
type Worker struct {
	Name string `json:"name"`
	Addr string `json:"addr,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// State is "alive", "excluded", "draining" or "lost".
	State        string    `json:"state"`
	Cores        int       `json:"cores"`
	MemoryBytes  int64     `json:"memory_bytes"`
	SpilledBytes int64     `json:"spilled_bytes"`
	Blocks       int       `json:"blocks"`
	Running      int       `json:"running_tasks"`
	Tasks        int       `json:"tasks"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
	Joined       time.Time `json:"joined,omitzero"`
	Lost         time.Time `json:"lost,omitzero"`
}

// Event kinds.
const (
	EventWorkerJoined   = "worker-joined"
	EventWorkerLost     = "worker-lost"
	EventWorkerExcluded = "worker-excluded"
	EventTaskFailed     = "task-failed"
	EventSpeculation    = "speculation"
	EventRecovery       = "recovery"
	EventCheckpoint     = "checkpoint"
	EventRateChange     = "rate-change"
	EventBatchFailed    = "batch-failed"
	EventDriver         = "driver"
)

// Event is an entry of the event log, GET /api/events?after=SEQ.
type Event struct {
	// Seq orders the events; it starts at 1 and has no gaps.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is one of the Event* constants.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Worker  string `json:"worker,omitempty"`
	// Batch is the batch concerned, if any.
	Batch time.Time `json:"batch,omitzero"`
}

// Graph is GET /api/graph: the stream graph, a DAG.
type Graph struct {
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Node is an operator of the stream graph.
type Node struct {
	ID int `json:"id"`
	// Kind is the operator ("Map", "ReduceByKeyAndWindow", "Output"…).
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	// Type is the record type of its stream.
	Type string `json:"type"`
	// Input, Output and Stateful classify the node for drawing.
	Input    bool `json:"input,omitempty"`
	Output   bool `json:"output,omitempty"`
	Stateful bool `json:"stateful,omitempty"`
	// SlideMS is how often the node produces a dataset.
	SlideMS int64 `json:"slide_ms"`
}

// Edge says node To reads node From.
type Edge struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Operator is a stateful operator's latest figures, GET /api/state.
type Operator struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Node int    `json:"node"`
	// Batch is the batch the figures are of (zero before the first).
	Batch time.Time `json:"batch,omitzero"`
	// Keys is the number of keys with state; Bytes estimates the state's
	// encoded size; Evictions counts the keys removed in that batch
	// (timed out or removed by the operator's function), EvictionsTotal
	// since the driver started.
	Keys           int64 `json:"keys"`
	Bytes          int64 `json:"bytes"`
	Evictions      int64 `json:"evictions"`
	EvictionsTotal int64 `json:"evictions_total"`
	Partitions     int   `json:"partitions"`
	// CheckpointEvery is the number of batches between state checkpoints.
	CheckpointEvery int `json:"checkpoint_every"`
}

// Query asks for state entries: GET /api/state/{name}?key=K or ?sample=N.
type Query struct {
	Operator string
	// Key, when Has is set, is the key to read, as text: a string key
	// as is, a number in decimal, any other key as JSON.
	Key    string
	HasKey bool
	// Sample is how many keys to return when no key is asked (bounded
	// by MaxSample).
	Sample int
}

// MaxSample bounds Query.Sample.
const MaxSample = 1000

// StateEntries answers a Query.
type StateEntries struct {
	Operator string    `json:"operator"`
	Batch    time.Time `json:"batch"`
	// Partitions is the number of state partitions read.
	Partitions int     `json:"partitions"`
	Entries    []Entry `json:"entries"`
}

// Entry is one key's state; Value is the state as JSON.
type Entry struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}
