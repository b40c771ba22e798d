package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// ActionKind says what a result task does with the partition it computed.
// Every kind but ActFunc is named, so a worker in another process can
// carry it out from the task descriptor alone.
type ActionKind uint8

const (
	// ActFunc applies Action.Fn, an in-process function: in another
	// process the worker sends the partition back and the driver applies
	// Fn to it.
	ActFunc ActionKind = iota
	// ActCollect returns the partition.
	ActCollect
	// ActTake returns the partition's first Action.N records.
	ActTake
	// ActCount returns the number of records (an int64).
	ActCount
	// ActOutput runs the output operation of graph node Action.Node on
	// the partition, on the worker (see Resolver.Output).
	ActOutput
)

// Action is what a result task does with its partition; its result
// travels back to the driver.
type Action struct {
	Kind ActionKind
	N    int   // ActTake: how many records
	Node int32 // ActOutput: the output operation's graph node
	// Fn is the function of ActFunc (in-process only; never sent).
	Fn func(tc lineage.TaskContext, p int, part any) (any, error)
}

// Func returns the action that applies f.
func Func(f func(tc lineage.TaskContext, p int, part any) (any, error)) Action {
	return Action{Kind: ActFunc, Fn: f}
}

// OutputFunc is an output operation's work on partition p (of parts) of
// batch t (Unix nanoseconds).
type OutputFunc func(ctx context.Context, t int64, p, parts int, part any) error

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
	Action Action
	// ShuffleLocs gives, for each shuffle the task reads, the worker
	// holding each map partition's output.
	ShuffleLocs map[lineage.ShuffleID][]string
	// BlockLocs gives where cached partitions of the datasets in the
	// task's pipeline live.
	BlockLocs map[blockstore.ID][]string
	// BatchTime is the batch the job belongs to (Unix nanoseconds).
	BatchTime int64
	// ReplicateTo lists workers (other than the one running the task)
	// to copy the blocks of replicated datasets to, in order of
	// preference.
	ReplicateTo []string
	// Cuts lists the truncated datasets in the lineage of Dataset (only
	// when Config.Cuts is set): a worker that rebuilds the graph in
	// another process stops there instead of rebuilding forgotten history.
	Cuts []Cut
}

// Cut is a dataset whose lineage was truncated: its partitions exist only
// as cached blocks.
type Cut struct {
	ID           lineage.ID
	NumParts     int
	Partitioning lineage.Partitioning
}

// TaskResult reports the end of a task attempt to the driver.
type TaskResult struct {
	Task   scheduler.Task
	Worker string
	// Value is the action's result (result tasks only): for ActCount an
	// int64, for ActOutput the records written (an int64), otherwise records of ValueType (or, after
	// crossing processes, an Encoded partition of that type).
	Value any
	// ValueType is the record type of Value (in-process only).
	ValueType lineage.Type
	// Shipped says Value is the partition itself, which the driver must
	// give to the action's Fn (an ActFunc run where Fn is unknown).
	Shipped bool
	Err     error
	// Cached lists the blocks the attempt stored in the worker's store.
	Cached []blockstore.ID
	// Replicated lists the copies of those blocks it made on other workers.
	Replicated []BlockCopy
	// Records is the number of records the task produced.
	Records  int
	Duration time.Duration
	// ShuffleWriteBytes and ShuffleReadBytes estimate the encoded size
	// of the shuffle buckets the task wrote and fetched.
	ShuffleWriteBytes, ShuffleReadBytes int64
	// Figures are what its compute functions recorded (at most
	// MaxFigures).
	Figures []lineage.Figure
}

// MaxFigures bounds the figures one task attempt reports; MaxFigureKey
// the length of a figure's key.
const (
	MaxFigures   = 256
	MaxFigureKey = 128
)

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

// MissingOutput is the error of a shuffle fetch that found no output of
// map partition MapPart (lost with a worker, or freed): that output, not
// the others fetched in the same call, must be computed again.
type MissingOutput struct {
	MapPart int
	Err     error
}

func (e *MissingOutput) Error() string {
	return fmt.Sprintf("runtime: no output of map partition %d: %v", e.MapPart, e.Err)
}

func (e *MissingOutput) Unwrap() error { return e.Err }

// ErrUnplannedShuffle is the error of a task that had to compute a cached
// partition whose blocks were lost after its job was planned, and found
// that it reads a shuffle the plan left out (the plan read the cached
// partition instead). The driver plans the job again.
var ErrUnplannedShuffle = errors.New("runtime: the task needs a shuffle its job did not plan (a cached partition was lost)")

// ErrPeerUnreachable is wrapped by the error of a Peers call that could not
// reach the worker at all, or whose connection broke before it answered
// (rather than an answer such as MissingOutput). Every output that worker
// holds is then unreadable: the driver reports the fetch failure as
// Unreachable (scheduler.FetchFailure), which loses them all at once.
var ErrPeerUnreachable = errors.New("runtime: worker unreachable")

// ErrBlockLost says a cached partition of a truncated dataset is gone and
// cannot be recomputed from lineage.
var ErrBlockLost = errors.New("runtime: block lost")

// Encoded is a partition encoded with its record type's codec, as it
// arrives from another process; the driver decodes it where it is used.
type Encoded []byte

// BlockCopy is a copy of a block on a worker.
type BlockCopy struct {
	ID     blockstore.ID
	Worker string
}
