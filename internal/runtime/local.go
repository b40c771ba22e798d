package runtime

import (
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Local is local[N] mode: a driver and N single-slot workers in one
// process. It runs the same driver, scheduler, workers, block stores and
// shuffle stores as a cluster; only the transport is a direct call.
type Local struct {
	Driver  *Driver
	workers map[string]*Worker
	names   []string
}

// NewLocal starts a driver and n workers that resolve datasets through r.
func NewLocal(n int, r Resolver, cfg Config) (*Local, error) {
	if n < 1 {
		return nil, fmt.Errorf("runtime: local mode needs at least 1 worker, got %d", n)
	}
	l := &Local{workers: make(map[string]*Worker, n)}
	l.Driver = NewDriver(cfg, l)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("local-%d", i)
		l.workers[name] = NewWorker(name, 1, r, l, l.Driver.Report)
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

// FetchShuffle implements Peers.
func (l *Local) FetchShuffle(worker string, id lineage.ShuffleID, mapPart, reduce int) (any, error) {
	w := l.workers[worker]
	if w == nil {
		return nil, fmt.Errorf("runtime: unknown worker %q", worker)
	}
	return w.Shuffle.Get(id, mapPart, reduce)
}

// FetchBlock implements Peers.
func (l *Local) FetchBlock(worker string, id blockstore.ID) (any, bool, error) {
	w := l.workers[worker]
	if w == nil {
		return nil, false, fmt.Errorf("runtime: unknown worker %q", worker)
	}
	v, ok := w.Blocks.Get(id)
	return v, ok, nil
}
