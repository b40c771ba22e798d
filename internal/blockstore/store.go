// Package blockstore keeps a worker's blocks: cached dataset partitions and
// input blocks, as Go values (local mode never encodes data that stays in
// the process).
//
// A block is named by an ID and holds one partition (a []T as any). The
// store counts records per block so that the runtime can report sizes; the
// memory budget and spilling to disk arrive with the cluster runtime.
package blockstore

import (
	"sort"
	"sync"

	"github.com/sluicehq/sluice/internal/lineage"
)

// ID names a block: partition Part of dataset Dataset.
type ID struct {
	Dataset lineage.ID
	Part    int
}

// Store holds blocks. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	blocks  map[ID]entry
	records int64
}

type entry struct {
	v       any
	records int
}

// New returns an empty store.
func New() *Store { return &Store{blocks: make(map[ID]entry)} }

// Put stores a block, replacing any block with the same ID.
func (s *Store) Put(id ID, v any, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.blocks[id]; ok {
		s.records -= int64(old.records)
	}
	s.blocks[id] = entry{v, records}
	s.records += int64(records)
}

// Get returns a block.
func (s *Store) Get(id ID) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blocks[id]
	return e.v, ok
}

// Remove drops the blocks of the given datasets.
func (s *Store) Remove(datasets map[lineage.ID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.blocks {
		if datasets[id.Dataset] {
			s.records -= int64(e.records)
			delete(s.blocks, id)
		}
	}
}

// Stats reports the number of blocks and records held.
func (s *Store) Stats() (blocks int, records int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blocks), s.records
}

// IDs lists the blocks held, sorted (for tests and status pages).
func (s *Store) IDs() []ID {
	s.mu.Lock()
	ids := make([]ID, 0, len(s.blocks))
	for id := range s.blocks {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.Dataset != b.Dataset {
			if a.Dataset.Node != b.Dataset.Node {
				return a.Dataset.Node < b.Dataset.Node
			}
			if a.Dataset.Time != b.Dataset.Time {
				return a.Dataset.Time < b.Dataset.Time
			}
			return a.Dataset.Seq < b.Dataset.Seq
		}
		return a.Part < b.Part
	})
	return ids
}
