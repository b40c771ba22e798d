// Package shuffle keeps the map outputs of shuffles on a worker: each map
// task's output is split into one bucket per reduce partition (combined
// map-side where the operation allows), and reduce tasks fetch their bucket
// from every map output.
//
// Buckets are Go values; when both sides share a process nothing is
// encoded. The network service that serves buckets to other processes in
// large batches arrives with the cluster runtime.
package shuffle

import (
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/internal/lineage"
)

// Store holds map outputs. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	outputs map[key][]any
}

type key struct {
	shuffle lineage.ShuffleID
	mapPart int
}

// New returns an empty store.
func New() *Store { return &Store{outputs: make(map[key][]any)} }

// Put stores the buckets of one map partition.
func (s *Store) Put(id lineage.ShuffleID, mapPart int, buckets []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs[key{id, mapPart}] = buckets
}

// Get returns bucket reduce of map partition mapPart.
func (s *Store) Get(id lineage.ShuffleID, mapPart, reduce int) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.outputs[key{id, mapPart}]
	if !ok {
		return nil, fmt.Errorf("shuffle: no output of %v map partition %d", id, mapPart)
	}
	if reduce < 0 || reduce >= len(b) {
		return nil, fmt.Errorf("shuffle: %v has %d buckets, reduce partition %d asked", id, len(b), reduce)
	}
	return b[reduce], nil
}

// Remove drops the outputs of the shuffles whose child dataset is in
// datasets.
func (s *Store) Remove(datasets map[lineage.ID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.outputs {
		if datasets[k.shuffle.Child] {
			delete(s.outputs, k)
		}
	}
}

// Len returns the number of map outputs held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.outputs)
}
