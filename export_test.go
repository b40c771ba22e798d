package sluice

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/checkpoint"
)

// EngineCounts reports what the engine holds, for leak tests: registered
// datasets, cached blocks known to the driver, shuffles with outputs, and
// blocks and map outputs held by the workers.
func EngineCounts(c *Context) (datasets, cached, shuffles, workerBlocks, workerOutputs int) {
	st := c.env.driver.Stats()
	if c.cl != nil { // as of the workers' first heartbeats after now
		now := time.Now()
		ws := c.cl.drv.Workers()
		for deadline := now.Add(5 * time.Second); time.Now().Before(deadline); ws = c.cl.drv.Workers() {
			fresh := true
			for _, w := range ws {
				fresh = fresh && w.LastSeen.After(now)
			}
			if fresh {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, w := range ws {
			workerBlocks += w.Blocks
			workerOutputs += w.Shuffles
		}
		return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
	}
	for _, name := range c.env.local.Workers() {
		w := c.env.local.Worker(name)
		workerBlocks += w.Blocks.Stats().Blocks
		workerOutputs += w.Shuffle.Len()
	}
	return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
}

// StoreKeys lists the keys under prefix of the checkpoint store at loc.
func StoreKeys(loc, prefix string) []string {
	st, err := checkpoint.Open(context.Background(), loc)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ks, err := st.List(context.Background(), prefix)
	if err != nil {
		panic(err)
	}
	return ks
}

// CheckpointStore makes a context checkpoint to st (a fault-injecting
// store in tests).
func CheckpointStore(st checkpoint.Store) Option {
	return func(c *config) error { c.store = st; return nil }
}

// Crash stops c as a killed driver would: no final checkpoint, no
// metadata after the batch in flight.
func Crash(c *Context) {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
	c.Stop()
}

// ReceiverWorker returns the worker running the receiver of input s, and
// its process ID on a cluster (0 in local mode).
func ReceiverWorker[T any](s *Stream[T]) (string, int) {
	c := s.n.c
	name := c.env.driver.Receivers()[s.n.id]
	if c.cl == nil {
		return name, 0
	}
	for _, w := range c.cl.drv.Workers() {
		if w.Name == name {
			return name, w.PID
		}
	}
	return name, 0
}

// LoseWorker tells a local-mode context's driver that a worker is lost, as
// the cluster driver does when a worker process dies (its blocks and map
// outputs count as gone), and starts recomputing the state it held.
func LoseWorker(c *Context, worker string) error {
	c.rec.mu.Lock()
	begun := c.rec.ctx != nil
	c.rec.mu.Unlock()
	if !begun {
		c.rec.begin()
	}
	if err := c.env.driver.WorkerLost(worker); err != nil {
		return err
	}
	c.workerLost(worker)
	return nil
}

// AwaitRecovery waits until the state recomputations LoseWorker started
// ended.
func AwaitRecovery(c *Context) {
	c.rec.mu.Lock()
	t := c.rec.batch
	c.rec.mu.Unlock()
	c.enterJob(context.Background(), nil, t)
}

// StateCached reports whether every partition of the latest state of the
// stateful operator named name is cached on a live worker.
func StateCached(c *Context, name string) bool {
	c.rec.mu.Lock()
	t := c.rec.batch
	c.rec.mu.Unlock()
	d := c.names[name].latest(t)
	return d != nil && c.env.driver.FullyCached(d)
}

// LocalWorkers names a local-mode context's workers.
func LocalWorkers(c *Context) []string { return c.env.local.Workers() }

// StatePlacements counts the MapWithState states c placed again by key.
func StatePlacements(c *Context) int64 { return c.statePlacements.Load() }
