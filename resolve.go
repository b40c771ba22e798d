package sluice

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// resolver is the graph as the workers see it (runtime.Resolver): it finds
// the dataset a task descriptor names, and an output operation by its
// node.
type resolver Context

// Lookup returns the dataset with the given ID. In a worker process it
// builds the dataset's node at the dataset's time first, if needed: the
// same code run in the same order gives the same IDs as on the driver.
func (r *resolver) Lookup(id lineage.ID) (*lineage.Dataset, error) {
	c := (*Context)(r)
	if runtime.IsReceived(id) {
		return c.receivedDataset(id)
	}
	d, err := c.reg.Lookup(id)
	if err == nil || c.wk == nil {
		return d, err
	}
	c.wk.mu.Lock()
	defer c.wk.mu.Unlock()
	if d, err := c.reg.Lookup(id); err == nil {
		return d, nil
	}
	n := c.nodeByID(id.Node)
	switch {
	case n == nil:
		return nil, fmt.Errorf("sluice: dataset %v is not part of this worker's graph (made at run time on the driver)", id)
	case n.output != nil:
		return nil, fmt.Errorf("sluice: dataset %v was made inside output %s#%d on the driver; workers cannot rebuild it", id, n.kind, n.id)
	}
	if _, ok, err := n.at(time.Unix(0, id.Time)); err != nil {
		return nil, fmt.Errorf("sluice: rebuilding %s#%d at %d for dataset %v: %w", n.kind, n.id, id.Time/1e6, id, err)
	} else if !ok {
		return nil, fmt.Errorf("sluice: %s#%d has no dataset at %d", n.kind, n.id, id.Time)
	}
	return c.reg.Lookup(id)
}

// Output returns the per-partition work of output node id.
func (r *resolver) Output(id int32) (runtime.OutputFunc, error) {
	n := (*Context)(r).nodeByID(id)
	if n == nil || n.partition == nil {
		return nil, fmt.Errorf("sluice: graph node %d is not an output that runs on workers", id)
	}
	return n.partition, nil
}

// Receiver returns the push receiver of input node id (runtime.Receivers).
func (r *resolver) Receiver(id int32) (runtime.ReceiveFunc, error) {
	n := (*Context)(r).nodeByID(id)
	if n == nil || n.receive == nil {
		return nil, fmt.Errorf("sluice: graph node %d is not a push receiver", id)
	}
	return n.receive, nil
}

// nodeByID returns the graph node with the given ID, or nil. It takes no
// lock: the graph is fixed once the context started, and its callers
// (tasks, the driver's event loop, workers' RPCs) run after Start.
func (c *Context) nodeByID(id int32) *node {
	if id < 1 || int(id) > len(c.nodes) {
		return nil
	}
	return c.nodes[id-1]
}
