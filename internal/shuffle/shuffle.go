// Package shuffle keeps the map outputs of shuffles on a worker: each map
// task's output is split into one bucket per reduce partition (combined
// map-side where the operation allows), and reduce tasks fetch their bucket
// from every map output.
//
// Buckets are Go values; when both sides share a process nothing is
// encoded. Encoded gives a bucket in its record codec's format, for the
// cluster's shuffle service, which serves another process all the buckets
// it needs from this worker in one call.
package shuffle

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/internal/lineage"
)

// ErrNoOutput says a map partition's output is not here (never written,
// freed, or lost): it must be computed again.
var ErrNoOutput = errors.New("shuffle: no output")

// Store holds map outputs. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	outputs map[key]output
}

// output is one map partition's buckets and their record type.
type output struct {
	buckets []any
	typ     lineage.Type
}

type key struct {
	shuffle lineage.ShuffleID
	mapPart int
}

// New returns an empty store.
func New() *Store { return &Store{outputs: make(map[key]output)} }

// Put stores the buckets of one map partition; typ is the type of one
// bucket (it encodes the buckets served to other processes).
func (s *Store) Put(id lineage.ShuffleID, mapPart int, buckets []any, typ lineage.Type) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs[key{id, mapPart}] = output{buckets, typ}
}

// Get returns bucket reduce of map partition mapPart.
func (s *Store) Get(id lineage.ShuffleID, mapPart, reduce int) (any, error) {
	b, _, err := s.get(id, mapPart, reduce)
	return b, err
}

// Encoded appends bucket reduce of map partition mapPart, encoded, to dst.
func (s *Store) Encoded(dst []byte, id lineage.ShuffleID, mapPart, reduce int) ([]byte, error) {
	b, typ, err := s.get(id, mapPart, reduce)
	if err != nil {
		return dst, err
	}
	return typ.Encode(dst, b), nil
}

func (s *Store) get(id lineage.ShuffleID, mapPart, reduce int) (any, lineage.Type, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.outputs[key{id, mapPart}]
	if !ok {
		return nil, nil, fmt.Errorf("%w of %v map partition %d", ErrNoOutput, id, mapPart)
	}
	if reduce < 0 || reduce >= len(o.buckets) {
		return nil, nil, fmt.Errorf("shuffle: %v has %d buckets, reduce partition %d asked", id, len(o.buckets), reduce)
	}
	return o.buckets[reduce], o.typ, nil
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
