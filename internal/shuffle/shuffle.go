// Package shuffle keeps the map outputs of shuffles on a worker: each map
// task's output is split into one bucket per reduce partition (combined
// map-side where the operation allows), and reduce tasks fetch their bucket
// from every map output.
//
// Buckets are Go values; when both sides share a process nothing is
// encoded. Encoded gives a bucket in its record codec's format, for the
// cluster's shuffle service, which serves another process all the buckets
// it needs from this worker in one call. With SetCompact, the outputs of
// batches older than the newest one the store holds are kept encoded, which
// takes a fraction of the memory: a batch's outputs are read by that batch's
// jobs, and older ones are kept only to recompute lost state (the driver
// keeps the shuffles of state since its last checkpoint).
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
	compact bool
	newest  int64  // the latest batch time of an output Put
	seq     uint64 // counts Puts, to tell a compacted output from a newer one
}

// output is one map partition's buckets and their record type; enc holds
// the buckets encoded instead, once compacted.
type output struct {
	buckets []any
	enc     [][]byte
	typ     lineage.Type
	seq     uint64
}

type key struct {
	shuffle lineage.ShuffleID
	mapPart int
}

// New returns an empty store.
func New() *Store { return &Store{outputs: make(map[key]output)} }

// SetCompact turns compaction on or off: with it, a Put of a batch newer
// than any before encodes the outputs of older batches (static datasets'
// outputs, at time 0, stay as they are).
func (s *Store) SetCompact(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compact = on
}

// Put stores the buckets of one map partition; typ is the type of one
// bucket (it encodes the buckets served to other processes).
func (s *Store) Put(id lineage.ShuffleID, mapPart int, buckets []any, typ lineage.Type) {
	s.mu.Lock()
	s.seq++
	s.outputs[key{id, mapPart}] = output{buckets: buckets, typ: typ, seq: s.seq}
	newer := s.compact && id.Child.Time > s.newest
	if newer {
		s.newest = id.Child.Time
	}
	s.mu.Unlock()
	if newer {
		s.compactBefore(id.Child.Time)
	}
}

// compactBefore encodes the outputs of batches before t, outside the lock
// (reads go on meanwhile), and swaps them in unless they changed.
func (s *Store) compactBefore(t int64) {
	s.mu.Lock()
	var old []key
	var outs []output
	for k, o := range s.outputs {
		if k.shuffle.Child.Time != 0 && k.shuffle.Child.Time < t && o.enc == nil && o.typ != nil {
			old = append(old, k)
			outs = append(outs, o)
		}
	}
	s.mu.Unlock()
	for i, k := range old {
		enc, ok := encodeAll(outs[i])
		if !ok {
			continue // a type its codec refuses stays as Go values
		}
		s.mu.Lock()
		if cur, ok := s.outputs[k]; ok && cur.seq == outs[i].seq {
			s.outputs[k] = output{enc: enc, typ: cur.typ, seq: cur.seq}
		}
		s.mu.Unlock()
	}
}

// encodeAll encodes an output's buckets; false if the codec panicked.
func encodeAll(o output) (enc [][]byte, ok bool) {
	defer func() {
		if recover() != nil {
			enc, ok = nil, false
		}
	}()
	enc = make([][]byte, len(o.buckets))
	for i, b := range o.buckets {
		enc[i] = o.typ.Encode(nil, b)
	}
	return enc, true
}

// Get returns bucket reduce of map partition mapPart.
func (s *Store) Get(id lineage.ShuffleID, mapPart, reduce int) (any, error) {
	o, err := s.get(id, mapPart, reduce)
	if err != nil {
		return nil, err
	}
	if o.enc != nil {
		b, err := o.typ.Decode(o.enc[reduce])
		if err != nil {
			return nil, fmt.Errorf("shuffle: %v map partition %d, compacted: %w", id, mapPart, err)
		}
		return b, nil
	}
	return o.buckets[reduce], nil
}

// Encoded appends bucket reduce of map partition mapPart, encoded, to dst.
func (s *Store) Encoded(dst []byte, id lineage.ShuffleID, mapPart, reduce int) ([]byte, error) {
	o, err := s.get(id, mapPart, reduce)
	if err != nil {
		return dst, err
	}
	if o.enc != nil {
		return append(dst, o.enc[reduce]...), nil
	}
	return o.typ.Encode(dst, o.buckets[reduce]), nil
}

func (s *Store) get(id lineage.ShuffleID, mapPart, reduce int) (output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.outputs[key{id, mapPart}]
	if !ok {
		return output{}, fmt.Errorf("%w of %v map partition %d", ErrNoOutput, id, mapPart)
	}
	if n := max(len(o.buckets), len(o.enc)); reduce < 0 || reduce >= n {
		return output{}, fmt.Errorf("shuffle: %v has %d buckets, reduce partition %d asked", id, n, reduce)
	}
	return o, nil
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
