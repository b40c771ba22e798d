package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Action is what a result task does with the final partition it computed,
// on the worker; its return value travels back to the driver.
type Action func(tc lineage.TaskContext, p int, part any) (any, error)

// TaskDesc describes one task attempt. It is a small descriptor, not code:
// the worker resolves the dataset from its own copy of the graph.
type TaskDesc struct {
	Task scheduler.Task
	// Dataset is the dataset whose partition Task.Partition the task
	// computes (for a map task: the shuffle's parent).
	Dataset lineage.ID
	// Shuffle, for a map task, names the shuffle whose buckets it writes.
	Shuffle *lineage.ShuffleID
	// Action, for a result task, is applied to the computed partition.
	// In-process only: the cluster transport names actions instead.
	Action Action
	// ShuffleLocs gives, for each shuffle the task reads, the worker
	// holding each map partition's output.
	ShuffleLocs map[lineage.ShuffleID][]string
	// BlockLocs gives where cached partitions of the datasets in the
	// task's pipeline live.
	BlockLocs map[blockstore.ID][]string
	// BatchTime is the batch the job belongs to (Unix nanoseconds).
	BatchTime int64
}

// TaskResult reports the end of a task attempt to the driver.
type TaskResult struct {
	Task   scheduler.Task
	Worker string
	// Value is the action's result (result tasks only).
	Value any
	Err   error
	// Cached lists the blocks the attempt stored in the worker's store.
	Cached []blockstore.ID
	// Records is the number of records the task produced.
	Records  int
	Duration time.Duration
}

// FetchError is returned by a task that could not read a shuffle output.
type FetchError struct {
	Shuffle lineage.ShuffleID
	MapPart int
	Worker  string
	Err     error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("runtime: fetch %v map partition %d from %s: %v", e.Shuffle, e.MapPart, e.Worker, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// ErrBlockLost says a cached partition of a truncated dataset is gone and
// cannot be recomputed from lineage.
var ErrBlockLost = errors.New("runtime: block lost")
