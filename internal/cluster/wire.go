package cluster

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// The messages below travel as CBOR (internal/rpc). Every field a peer
// sends is checked before use: a message that breaks a limit or names
// something unknown is refused with an error, never trusted.

const (
	driverService = "sluice.Driver"
	workerService = "sluice.Worker"
	// chunkBytes bounds one streamed message of encoded records, well
	// under the RPC message limit.
	chunkBytes = 4 << 20
	// maxNameLen bounds worker names and addresses.
	maxNameLen = 256
)

// toDriver is what a worker sends on its session stream: first a hello,
// then heartbeats and task results.
type toDriver struct {
	Hello     *hello      `cbor:"1,keyasint,omitempty"`
	Heartbeat *heartbeat  `cbor:"2,keyasint,omitempty"`
	Result    *resultWire `cbor:"3,keyasint,omitempty"`
	// Drain asks the driver to drain this worker (it got SIGTERM): the
	// driver moves its work elsewhere, then sends Stop.
	Drain bool `cbor:"4,keyasint,omitempty"`
}

// toWorker is what the driver sends on a session stream: first a welcome
// (or a refusal), then commands.
type toWorker struct {
	Welcome *welcome          `cbor:"1,keyasint,omitempty"`
	Refused string            `cbor:"2,keyasint,omitempty"`
	Launch  *taskWire         `cbor:"3,keyasint,omitempty"`
	Cancel  *scheduler.Task   `cbor:"4,keyasint,omitempty"`
	Free    []lineage.ID      `cbor:"5,keyasint,omitempty"`
	Peers   map[string]string `cbor:"6,keyasint,omitempty"` // worker name -> address
	Stop    bool              `cbor:"7,keyasint,omitempty"`
	// First is the first batch time (Unix nanoseconds), sent once the
	// job starts: workers need it to know at which times a stream has
	// datasets.
	First int64 `cbor:"8,keyasint,omitempty"`
	// Receiver starts (or updates, or with Stop stops) a push receiver.
	Receiver *receiverWire `cbor:"9,keyasint,omitempty"`
}

// receiverWire is a runtime.ReceiverSpec, or a stop.
type receiverWire struct {
	Node        int32
	Incarnation int32
	ReplicateTo []string
	Stop        bool
	// Rate is the receiver's rate limit, records/s (0: none); older
	// drivers send none.
	Rate float64 `cbor:",omitempty"`
}

// maxReceiverRate bounds a receiver's rate limit: far above any one
// receiver's intake, and finite.
const maxReceiverRate = 1e12

// check refuses a malformed receiver command: a rate limit that is
// negative, NaN or over maxReceiverRate. (Its worker list is bounded by
// the message size limit: it names every other worker.)
func (r *receiverWire) check() error {
	if !(r.Rate >= 0 && r.Rate <= maxReceiverRate) { // also refuses NaN
		return fmt.Errorf("cluster: malformed receiver command: rate %v", r.Rate)
	}
	return nil
}

// blockWire is a runtime.BlockReport: a worker's receiver stored a block
// (or stopped). The driver answers once it registered it.
type blockWire struct {
	Worker      string
	Node        int32
	Incarnation int32
	ID          lineage.ID
	Records     int
	Workers     []string
	Stopped     bool
	Source      string
	Error       string
}

type blockResp struct{}

// maxReportLen bounds an input error a receiver reports.
const maxReportLen = 4096

// maxBlockCopies bounds the workers a block report may list.
const maxBlockCopies = 8

// check refuses a malformed block report.
func (b *blockWire) check() error {
	if len(b.Worker) > maxNameLen || b.Records < 0 || len(b.Workers) > maxBlockCopies || len(b.Source) > maxReportLen || len(b.Error) > maxReportLen {
		return errors.New("cluster: malformed block report")
	}
	for _, w := range b.Workers {
		if len(w) > maxNameLen {
			return errors.New("cluster: malformed block report")
		}
	}
	return nil
}

type hello struct {
	Name        string // wanted name ("" : the driver picks one)
	Addr        string // where the worker serves shuffle and blocks
	Slots       int
	PID         int
	Fingerprint Fingerprint
	Metrics     string // the worker's /metrics address, if it serves one
}

type welcome struct {
	Name string
	// First is the first batch time, if the job started (see toWorker).
	First int64
	// Heartbeat is how often the worker must send a heartbeat
	// (nanoseconds).
	Heartbeat int64
}

type heartbeat struct {
	Blocks       int
	Shuffles     int // map outputs held
	MemoryBytes  int64
	SpilledBytes int64
	Running      int
}

// taskWire is a runtime.TaskDesc without its in-process parts.
type taskWire struct {
	Task        scheduler.Task
	Dataset     lineage.ID
	Shuffle     *lineage.ShuffleID
	Kind        runtime.ActionKind
	N           int
	Node        int32
	ShuffleLocs []shuffleLoc
	BlockLocs   []blockLoc
	BatchTime   int64
	Cuts        []runtime.Cut
	ReplicateTo []string
}

type shuffleLoc struct {
	ID      lineage.ShuffleID
	Workers []string
}

type blockLoc struct {
	ID      blockstore.ID
	Workers []string
}

// resultWire is a runtime.TaskResult on the wire.
type resultWire struct {
	Task    scheduler.Task
	Count   int64  // ActCount's value
	Data    []byte // encoded partition (collect, take, shipped)
	HasData bool
	Shipped bool
	Err     string
	Fetch   *fetchFailure // set when Err is a failed shuffle fetch
	// Unplanned is set when Err is runtime.ErrUnplannedShuffle.
	Unplanned  bool
	Cached     []blockstore.ID
	Replicated []runtime.BlockCopy
	Records    int
	Nanos      int64
	// WriteBytes and ReadBytes estimate the shuffle bytes written and
	// read; Figures are what the task recorded (runtime.MaxFigures).
	WriteBytes, ReadBytes int64
	Figures               []lineage.Figure
}

type fetchFailure struct {
	Shuffle lineage.ShuffleID
	MapPart int
	Worker  string
	// Unreachable is set when Err is runtime.ErrPeerUnreachable.
	Unreachable bool
}

// jobReq asks the driver which job it runs (a standalone worker's first
// call: it then runs the same program with the same arguments).
type jobReq struct{}

type jobResp struct {
	Args []string
}

// planReq asks the driver for an input's plan of one batch.
type planReq struct {
	Node int32
	Time int64
}

type planResp struct {
	Data  []byte
	Found bool
}

// fetchReq asks a worker for buckets of a shuffle (all map partitions it
// holds for one reduce partition) or for a cached block.
type fetchReq struct {
	Shuffle  *lineage.ShuffleID
	MapParts []int
	Reduce   int
	Block    *blockstore.ID
}

// putBlock is a copy of a block for another worker's store (replication).
type putBlock struct {
	ID   blockstore.ID
	Data []byte
}

type putBlockResp struct{}

// copyReq asks a draining worker to copy blocks it holds to other workers
// (runtime.Driver.DrainWorker); copyResp lists the copies made.
type copyReq struct {
	Copies []runtime.BlockCopy
}

type copyResp struct {
	Done []runtime.BlockCopy
}

// maxCopies bounds the copies of one copyReq; the driver sends more in
// several.
const maxCopies = 4096

// check refuses a malformed copy request.
func (r *copyReq) check() error {
	if len(r.Copies) > maxCopies {
		return fmt.Errorf("cluster: %d block copies in one request (limit %d)", len(r.Copies), maxCopies)
	}
	for _, c := range r.Copies {
		if c.ID.Part < 0 || c.Worker == "" || len(c.Worker) > maxNameLen {
			return errors.New("cluster: malformed block copy")
		}
	}
	return nil
}

// chunk is a piece of one encoded bucket or block. Index is the position
// in fetchReq.MapParts (0 for a block); Last ends it.
type chunk struct {
	Index   int
	Data    []byte
	Last    bool
	Missing bool // the block is not there
}

func toWire(d *runtime.TaskDesc) *taskWire {
	w := &taskWire{Task: d.Task, Dataset: d.Dataset, Shuffle: d.Shuffle, Kind: d.Action.Kind, N: d.Action.N,
		Node: d.Action.Node, BatchTime: d.BatchTime, Cuts: d.Cuts, ReplicateTo: d.ReplicateTo}
	for id, ws := range d.ShuffleLocs {
		w.ShuffleLocs = append(w.ShuffleLocs, shuffleLoc{id, ws})
	}
	for id, ws := range d.BlockLocs {
		w.BlockLocs = append(w.BlockLocs, blockLoc{id, ws})
	}
	return w
}

// fromWire checks a task from the driver and turns it back into a
// descriptor.
func fromWire(w *taskWire) (*runtime.TaskDesc, error) {
	if w.Task.Partition < 0 || w.N < 0 || w.Kind > runtime.ActOutput {
		return nil, fmt.Errorf("cluster: malformed task %+v", w.Task)
	}
	d := &runtime.TaskDesc{Task: w.Task, Dataset: w.Dataset, Shuffle: w.Shuffle, BatchTime: w.BatchTime, Cuts: w.Cuts,
		ReplicateTo: w.ReplicateTo,
		Action:      runtime.Action{Kind: w.Kind, N: w.N, Node: w.Node},
		ShuffleLocs: make(map[lineage.ShuffleID][]string, len(w.ShuffleLocs)),
		BlockLocs:   make(map[blockstore.ID][]string, len(w.BlockLocs))}
	for _, l := range w.ShuffleLocs {
		d.ShuffleLocs[l.ID] = l.Workers
	}
	for _, l := range w.BlockLocs {
		d.BlockLocs[l.ID] = l.Workers
	}
	return d, nil
}

// resultToWire encodes a task's result for the driver.
func resultToWire(r runtime.TaskResult) *resultWire {
	w := &resultWire{Task: r.Task, Shipped: r.Shipped, Cached: r.Cached, Replicated: r.Replicated, Records: r.Records, Nanos: int64(r.Duration),
		WriteBytes: r.ShuffleWriteBytes, ReadBytes: r.ShuffleReadBytes, Figures: r.Figures}
	if r.Err != nil {
		w.Err = r.Err.Error()
		var fe *runtime.FetchError
		if errors.As(r.Err, &fe) {
			w.Fetch = &fetchFailure{fe.Shuffle, fe.MapPart, fe.Worker, errors.Is(fe, runtime.ErrPeerUnreachable)}
		}
		w.Unplanned = errors.Is(r.Err, runtime.ErrUnplannedShuffle)
		return w
	}
	switch v := r.Value.(type) {
	case int64:
		w.Count = v
	case nil:
	default:
		if r.ValueType != nil {
			b, err := runtime.SafeEncode(r.ValueType, v)
			if err != nil {
				w.Err = err.Error()
				return w
			}
			w.Data, w.HasData = b, true
		}
	}
	return w
}

// unreachableErr is a worker's error message that wrapped
// runtime.ErrPeerUnreachable, rebuilt so that it still does.
type unreachableErr string

func (e unreachableErr) Error() string { return string(e) }
func (unreachableErr) Unwrap() error   { return runtime.ErrPeerUnreachable }

// resultFromWire rebuilds a task result from a worker.
func resultFromWire(worker string, w *resultWire) runtime.TaskResult {
	r := runtime.TaskResult{Task: w.Task, Worker: worker, Shipped: w.Shipped, Cached: w.Cached, Replicated: w.Replicated, Records: w.Records}
	r.Duration = durationOf(w.Nanos)
	r.ShuffleWriteBytes, r.ShuffleReadBytes = max(w.WriteBytes, 0), max(w.ReadBytes, 0)
	r.Figures = figuresFromWire(w.Figures)
	if w.Err != "" {
		r.Err = errors.New(w.Err)
		if f := w.Fetch; f != nil {
			cause := errors.New(w.Err)
			if f.Unreachable {
				cause = unreachableErr(w.Err)
			}
			r.Err = &runtime.FetchError{Shuffle: f.Shuffle, MapPart: f.MapPart, Worker: f.Worker, Err: cause}
		}
		if w.Unplanned {
			r.Err = fmt.Errorf("%w (%s)", runtime.ErrUnplannedShuffle, w.Err)
		}
		return r
	}
	switch {
	case w.HasData:
		r.Value = runtime.Encoded(w.Data)
	case w.Task.Partition >= 0:
		r.Value = w.Count
	}
	return r
}

// figuresFromWire keeps the well-formed figures a worker sent, at most
// runtime.MaxFigures of them (they only feed the UI: bad ones are dropped,
// not fatal).
func figuresFromWire(fs []lineage.Figure) []lineage.Figure {
	var out []lineage.Figure
	for _, f := range fs {
		if len(out) == runtime.MaxFigures {
			break
		}
		if f.Key != "" && len(f.Key) <= runtime.MaxFigureKey && f.Part >= 0 && f.Part < f.Parts {
			out = append(out, f)
		}
	}
	return out
}
