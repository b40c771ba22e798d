package sluice

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// resolver is the graph as the workers see it (runtime.Resolver): it finds
// the dataset a task descriptor names, and an output operation by its
// node.
type resolver Context

// Lookup returns the dataset with the given ID.
func (r *resolver) Lookup(id lineage.ID) (*lineage.Dataset, error) {
	return (*Context)(r).reg.Lookup(id)
}

// Output returns the per-partition work of output node id.
func (r *resolver) Output(id int32) (runtime.OutputFunc, error) {
	c := (*Context)(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if id < 1 || int(id) > len(c.nodes) || c.nodes[id-1].partition == nil {
		return nil, fmt.Errorf("sluice: graph node %d is not an output that runs on workers", id)
	}
	return c.nodes[id-1].partition, nil
}
