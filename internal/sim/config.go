package sim

import (
	"errors"
	"fmt"
	"time"
)

// Model is how the state a failed node held is rebuilt.
type Model string

const (
	// Parallel recomputes the failed node's state partitions since the
	// last checkpoint over every live node (D-Streams' parallel
	// recovery): its map tasks of the lost batches spread as independent
	// tasks, then each state partition's chain of reduce steps, one per
	// lost batch in order, the chains in parallel.
	Parallel Model = "parallel"
	// UpstreamBackup replays the failed node's work since the last
	// checkpoint serially, as one task on one node (a hot upstream backup).
	UpstreamBackup Model = "upstream-backup"
)

// Limits: a simulation is bounded like anything else (STYLE 7).
const (
	MaxNodes   = 100_000
	MaxBatches = 10_000
	// MaxEvents bounds the events of one run, which fails if it needs
	// more. (A run also ends at twice its last batch time: batches not
	// complete by then count as never complete.)
	MaxEvents = 50_000_000
)

// ErrConfig is returned for a Config that cannot be simulated.
var ErrConfig = errors.New("sim: invalid config")

// Config describes one simulated run. Zero values take the defaults.
type Config struct {
	Nodes        int   // workers (default 10)
	SlotsPerNode int   // task slots per worker (default 4)
	Seed         int64 // every random draw comes from it
	// BatchInterval is the time between batches (default 1s). Batch b
	// (from 0) is submitted at (b+1)×BatchInterval.
	BatchInterval time.Duration
	// Batches is how many batches are submitted (default 30).
	Batches int
	// Load is the share of each batch interval that one batch's work
	// takes on the whole cluster (default 0.5): a batch is
	// Load×BatchInterval×Nodes×SlotsPerNode of slot time, so the load per
	// node stays the same as Nodes grows.
	Load float64
	// TaskTime is the target mean task duration (default 100ms). The
	// number of tasks per batch is the batch's work divided by TaskTime,
	// rounded; the actual mean is then adjusted so that the work matches
	// Load exactly (Result.TaskTime).
	TaskTime time.Duration
	// TaskSpread is the standard deviation of the log of a task's
	// duration around its mean (a lognormal factor; default 0.2, negative
	// for none): partitions differ in size.
	TaskSpread float64
	// CheckpointEvery is how many batches pass between state checkpoints
	// (default 10). Checkpoints are asynchronous (DESIGN.md section 4, as
	// in D-Streams) and cost nothing here: no task, no slot time.
	CheckpointEvery int
	// FailAt is the virtual time at which one node fails (0: none).
	FailAt time.Duration
	// Model is how its state is rebuilt (default Parallel).
	Model Model
	// Stragglers nodes (chosen from the seed, never the one that fails)
	// run every task StragglerSlowdown times slower (default 4 when
	// Stragglers > 0).
	Stragglers        int
	StragglerSlowdown float64
	// Speculation turns the scheduler's speculative execution on.
	Speculation bool
	// TickInterval is the period of the scheduler's Ticks with
	// Speculation (default 10ms): they let it see stragglers as time
	// passes. Without it a Tick comes only before each event.
	TickInterval time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Nodes, 10)
	def(&c.SlotsPerNode, 4)
	def(&c.Batches, 30)
	def(&c.CheckpointEvery, 10)
	if c.BatchInterval == 0 {
		c.BatchInterval = time.Second
	}
	if c.Load == 0 {
		c.Load = 0.5
	}
	if c.TaskTime == 0 {
		c.TaskTime = 100 * time.Millisecond
	}
	if c.TaskSpread == 0 {
		c.TaskSpread = 0.2
	}
	c.TaskSpread = max(c.TaskSpread, 0)
	if c.Model == "" {
		c.Model = Parallel
	}
	if c.Stragglers > 0 && c.StragglerSlowdown == 0 {
		c.StragglerSlowdown = 4
	}
	if c.TickInterval == 0 {
		c.TickInterval = 10 * time.Millisecond
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Nodes < 1 || c.Nodes > MaxNodes:
		return bad("nodes %d not in [1, %d]", c.Nodes, MaxNodes)
	case c.SlotsPerNode < 1:
		return bad("slots per node %d < 1", c.SlotsPerNode)
	case c.Batches < 1 || c.Batches > MaxBatches:
		return bad("batches %d not in [1, %d]", c.Batches, MaxBatches)
	case c.BatchInterval <= 0 || c.TaskTime <= 0 || c.TickInterval <= 0:
		return bad("batch interval, task time and tick interval must be positive")
	case !(c.Load > 0 && c.Load <= 10):
		return bad("load %v not in (0, 10]", c.Load)
	case c.CheckpointEvery < 0:
		return bad("checkpoint every %d batches", c.CheckpointEvery)
	case c.FailAt < 0:
		return bad("fail at %v", c.FailAt)
	case c.Model != Parallel && c.Model != UpstreamBackup:
		return bad("unknown model %q", c.Model)
	case c.Stragglers < 0 || c.Stragglers >= c.Nodes:
		return bad("%d stragglers of %d nodes", c.Stragglers, c.Nodes)
	case c.Stragglers > 0 && !(c.StragglerSlowdown >= 1):
		return bad("straggler slowdown %v < 1", c.StragglerSlowdown)
	case c.FailAt > 0 && c.Nodes < 2:
		return bad("a failure needs at least 2 nodes")
	}
	return nil
}
