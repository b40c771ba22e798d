package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
	"github.com/sluicehq/sluice/internal/shuffle"
)

// Local is local[N] mode: a driver and N single-slot workers in one
// process. It runs the same driver, scheduler, workers, block stores and
// shuffle stores as a cluster; only the transport is a direct call.
//
// With LocalConfig.Encode, everything that would cross processes in a
// cluster (buckets fetched from another worker, remote blocks, results,
// partitions shipped to the driver) is encoded and decoded on the way, as
// the cluster transport does: the whole suite can check the codecs
// without starting processes.
type Local struct {
	Driver  *Driver
	workers map[string]*Worker
	names   []string
	encode  bool
}

// LocalConfig configures local mode.
type LocalConfig struct {
	Config
	// Encode round-trips through the codecs whatever a cluster would send.
	Encode bool
	// Blocks configures each worker's block store.
	Blocks blockstore.Config
	// Stragglers slows workers by index (from 0), a testing aid.
	Stragglers map[int]Straggle
}

// NewLocal starts a driver and n workers that resolve datasets through r.
func NewLocal(n int, r Resolver, cfg LocalConfig) (*Local, error) {
	if n < 1 {
		return nil, fmt.Errorf("runtime: local mode needs at least 1 worker, got %d", n)
	}
	l := &Local{workers: make(map[string]*Worker, n), encode: cfg.Encode}
	l.Driver = NewDriver(cfg.Config, l)
	report := l.Driver.Report
	if l.encode {
		report = func(res TaskResult) { l.Driver.Report(EncodeResult(res)) }
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("local-%d", i)
		l.workers[name] = NewWorker(WorkerConfig{Name: name, Slots: 1, Blocks: cfg.Blocks, AddBlock: l.Driver.ReceivedBlock,
			Straggle: cfg.Stragglers[i]}, r, l, report)
		l.names = append(l.names, name)
	}
	sort.Strings(l.names)
	for _, name := range l.names {
		if err := l.Driver.AddWorker(name, 1); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// EncodeResult replaces a result's records by their encoding, as they
// travel between processes.
func EncodeResult(res TaskResult) TaskResult {
	if res.ValueType != nil && res.Value != nil && res.Err == nil {
		b, err := SafeEncode(res.ValueType, res.Value)
		if err != nil {
			res.Value, res.Err = nil, err
		} else {
			res.Value = Encoded(b)
		}
		res.ValueType = nil
	}
	return res
}

// SafeEncode encodes a partition, turning the panic of a codec that
// refuses its type (a record type that cannot leave the process) into an
// error.
func SafeEncode(typ lineage.Type, part any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("runtime: encoding %s records: %w", typ.Name(), e)
			} else {
				err = fmt.Errorf("runtime: encoding %s records: %v", typ.Name(), r)
			}
		}
	}()
	return typ.Encode(nil, part), nil
}

// Workers returns the workers' names.
func (l *Local) Workers() []string { return l.names }

// Worker returns a worker by name (nil if unknown).
func (l *Local) Worker(name string) *Worker { return l.workers[name] }

// Close stops the driver, then the workers.
func (l *Local) Close() {
	l.Driver.Close()
	for _, name := range l.names {
		l.workers[name].Close()
	}
}

// Launch implements Transport.
func (l *Local) Launch(worker string, d *TaskDesc) error {
	w := l.workers[worker]
	if w == nil {
		return fmt.Errorf("runtime: unknown worker %q", worker)
	}
	if l.encode && d.Action.Fn != nil {
		c := *d
		c.Action.Fn = nil // as in another process: the partition is shipped
		d = &c
	}
	return w.Launch(d)
}

// Cancel implements Transport.
func (l *Local) Cancel(worker string, t scheduler.Task) {
	if w := l.workers[worker]; w != nil {
		w.Cancel(t)
	}
}

// Free implements Transport.
func (l *Local) Free(worker string, ds map[lineage.ID]bool) {
	if w := l.workers[worker]; w != nil {
		w.Free(ds)
	}
}

// StartReceiver implements ReceiverTransport.
func (l *Local) StartReceiver(worker string, spec ReceiverSpec) {
	if w := l.workers[worker]; w != nil {
		if err := w.StartReceiver(spec); err != nil {
			w.log.Error("starting a receiver", "worker", worker, "node", spec.Node, "err", err)
		}
	}
}

// StopReceiver implements ReceiverTransport.
func (l *Local) StopReceiver(worker string, node int32) {
	if w := l.workers[worker]; w != nil {
		w.StopReceiver(node)
	}
}

// FetchShuffle implements Peers.
func (l *Local) FetchShuffle(_ context.Context, worker string, dep *lineage.ShuffleDep, mapParts []int, reduce int) ([]any, error) {
	w := l.workers[worker]
	if w == nil {
		return nil, fmt.Errorf("runtime: unknown worker %q", worker)
	}
	out := make([]any, len(mapParts))
	for i, m := range mapParts {
		b, err := w.Shuffle.Get(dep.ID, m, reduce)
		if errors.Is(err, shuffle.ErrNoOutput) {
			return nil, &MissingOutput{MapPart: m, Err: err}
		}
		if err != nil {
			return nil, err
		}
		if l.encode {
			var enc []byte
			if enc, err = SafeEncode(dep.Bucket, b); err == nil {
				b, err = dep.Bucket.Decode(enc)
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// FetchBlock implements Peers.
func (l *Local) FetchBlock(_ context.Context, worker string, ds *lineage.Dataset, p int) (any, bool, error) {
	w := l.workers[worker]
	if w == nil {
		return nil, false, fmt.Errorf("runtime: unknown worker %q", worker)
	}
	id := blockstore.ID{Dataset: ds.ID, Part: p}
	if l.encode {
		b, ok, err := w.Blocks.Encoded(id)
		if err != nil || !ok {
			return nil, false, err
		}
		v, err := ds.Type.Decode(b)
		return v, err == nil, err
	}
	return w.Blocks.Get(id)
}

// Replicate implements Peers.
func (l *Local) Replicate(_ context.Context, worker string, ds *lineage.Dataset, p int, part any) error {
	w := l.workers[worker]
	if w == nil {
		return fmt.Errorf("runtime: unknown worker %q", worker)
	}
	id := blockstore.ID{Dataset: ds.ID, Part: p}
	if l.encode {
		b, err := SafeEncode(ds.Type, part)
		if err != nil {
			return err
		}
		return w.Blocks.PutEncoded(id, b, ds.Type)
	}
	return w.Blocks.Put(id, part, ds.Type)
}

// CopyBlocks implements BlockMover.
func (l *Local) CopyBlocks(ctx context.Context, from string, copies []BlockCopy) ([]BlockCopy, error) {
	w := l.workers[from]
	if w == nil {
		return nil, fmt.Errorf("runtime: unknown worker %q", from)
	}
	return w.CopyBlocks(ctx, copies), nil
}
