package sluice

import (
	"errors"
	"fmt"
	"sort"
)

// Adding and removing workers while a job runs (DESIGN.md section 4).
// A worker joins by connecting to the driver (local-cluster starts one,
// `sluice worker --driver ADDR` on another machine); it gets tasks at
// once. A worker leaves by being drained: it gets no new task, the
// receivers it runs move to other workers, the jobs of the batch in
// flight finish, the blocks only it holds (state partitions, persisted
// datasets, received blocks) are copied to the workers that stay, and
// then the driver releases it: the process exits with status 0. A worker
// process drains on SIGTERM (a second SIGTERM ends it at once, as a
// loss); local-cluster does not replace a worker that exits with status 0.

// Workers lists, by name, the workers that run this context's tasks now
// (on the driver: local workers, or the cluster's connected worker
// processes); a worker being drained is listed until it leaves. It is
// empty before Start and after Stop.
func (c *Context) Workers() []string {
	c.mu.Lock()
	drv := c.env.driver
	c.mu.Unlock()
	if drv == nil {
		return nil
	}
	return drv.Stats().WorkerNames
}

// ScaleWorkers sets the number of worker processes of a running
// local-cluster context to n (1 to 64): it starts new ones (named with the
// next indexes, worker-N…), or drains the highest-numbered ones, which
// then leave without losing anything (see Workers). It returns once the
// new processes are started or the drains began: Workers shows when they
// joined or left. Other masters refuse it (a standalone cluster grows by
// starting `sluice worker` processes, and shrinks by sending them
// SIGTERM).
func (c *Context) ScaleWorkers(n int) error {
	c.mu.Lock()
	cl := c.cl
	running := c.state == started
	c.mu.Unlock()
	switch {
	case cl == nil || cl.standalone || cl.procs == nil:
		return fmt.Errorf("sluice: ScaleWorkers needs a local-cluster master, not %q", c.cfg.master)
	case !running:
		return errors.New("sluice: ScaleWorkers needs a running context (after Start, before Stop)")
	case n < 1 || n > maxLocalClusterWorkers:
		return fmt.Errorf("sluice: ScaleWorkers(%d): want 1 to %d workers", n, maxLocalClusterWorkers)
	}
	live := cl.procs.Live()
	for i := cl.procs.Size(); i < n; i++ {
		if err := cl.procs.Start(); err != nil {
			return err
		}
	}
	if n >= len(live) {
		return nil
	}
	sort.Sort(sort.Reverse(sort.IntSlice(live)))
	var errs []error
	for _, i := range live[:len(live)-n] {
		cl.procs.Retire(i)
		name := fmt.Sprintf("worker-%d", i)
		if err := cl.drv.Drain(name); err != nil {
			// Not connected (yet, or any more): nothing of the job is
			// there; stop the process.
			c.cfg.logger.Warn("sluice: scaling down: stopping a worker that cannot be drained", "worker", name, "err", err)
			if err := cl.procs.Kill(i); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
