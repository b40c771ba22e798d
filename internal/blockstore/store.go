package blockstore

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/lineage"
)

// DefaultMemoryBytes is the memory budget when Config.MemoryBytes is 0.
const DefaultMemoryBytes = 512 << 20

// ErrClosed is returned by Put and PutEncoded after Close. The block is not
// stored.
var ErrClosed = errors.New("blockstore: closed")

// ErrCorrupt is wrapped by the errors of Get and Encoded when a spilled
// block's file fails its checksum or does not decode. The block cannot be
// read from this store; it stays listed until removed, and should be
// recomputed or fetched again.
var ErrCorrupt = errors.New("blockstore: corrupt spill file")

// Config configures a Store.
type Config struct {
	// MemoryBytes is the budget for blocks held in memory, as estimated by
	// EstimateBytes: 0 means DefaultMemoryBytes, a negative value no limit.
	MemoryBytes int64
	// SpillDir is the directory for spilled blocks, created on the first
	// spill. Empty means a new private directory under os.TempDir().
	SpillDir string
}

// ID names a block: partition Part of dataset Dataset.
type ID struct {
	Dataset lineage.ID
	Part    int
}

func (id ID) String() string { return fmt.Sprintf("%v/%d", id.Dataset, id.Part) }

// Stats describes what a store holds.
type Stats struct {
	Blocks  int   // blocks held, in memory or spilled
	Records int64 // records in all blocks
	// MemoryBytes is the estimated size of the blocks in memory (including
	// blocks being spilled).
	MemoryBytes   int64
	SpilledBlocks int
	SpilledBytes  int64 // size of the spill files, headers included
	Spills        int64 // blocks written to disk since New
	SpillErrors   int64 // failed spills since New
}

// state is where a block's value lives.
type state uint8

const (
	inMemory state = iota
	spilling       // in memory and being written by a Put, outside the mutex
	onDisk
)

type entry struct {
	id      ID
	typ     lineage.Type
	records int
	size    int64 // EstimateBytes; counted in Store.memBytes unless onDisk
	state   state
	v       any           // the partition unless onDisk
	elem    *list.Element // position in Store.lru while inMemory
	file    string        // spill file while onDisk
	disk    int64         // size of file
	// dropped is set when the entry leaves Store.blocks (replaced, removed,
	// closed), so that a spill or load running outside the mutex discards
	// its result instead of accounting for it.
	dropped bool
	// pinned blocks cannot be encoded (their type cannot leave the
	// process), so they are never spilled.
	pinned bool
}

// Store holds blocks. It is safe for concurrent use.
type Store struct {
	budget int64 // < 0: unlimited

	mu            sync.Mutex
	blocks        map[ID]*entry
	lru           list.List // entries inMemory; front is the most recently used
	records       int64
	memBytes      int64 // estimated size of entries inMemory or spilling
	pending       int64 // part of memBytes being spilled
	spilledBlocks int
	spilledBytes  int64
	spills        int64
	spillErrors   int64
	closed        bool
	inflight      sync.WaitGroup // Puts spilling, which Close waits for

	seq atomic.Uint64 // makes spill file names unique

	dirMu   sync.Mutex // guards the fields below, set on the first spill
	dirCfg  string     // Config.SpillDir
	dir     string     // the spill directory once it exists
	created bool       // the store made dir (and removes it on Close)

	// writeFile writes a spill file whole or not at all; tests replace it
	// to inject errors.
	writeFile func(name string, b []byte) error
}

// New returns an empty store.
func New(cfg Config) *Store {
	s := &Store{
		budget:    cfg.MemoryBytes,
		blocks:    make(map[ID]*entry),
		dirCfg:    cfg.SpillDir,
		writeFile: writeFileAtomic,
	}
	if s.budget == 0 {
		s.budget = DefaultMemoryBytes
	}
	return s
}

// Put stores block id holding partition v of type typ, replacing any block
// with the same ID, and spills least recently used blocks if the store is
// over its budget. The block is stored even when Put returns an error: the
// error is a failed spill, which leaves the blocks concerned in memory.
func (s *Store) Put(id ID, v any, typ lineage.Type) error {
	if typ == nil {
		panic(fmt.Sprintf("blockstore: Put %v with a nil type", id))
	}
	size, err := estimate(typ, v)
	// A block that cannot be encoded cannot be spilled: it stays in memory.
	e := &entry{id: id, typ: typ, v: v, records: typ.Len(v), size: size, pinned: err != nil}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var stale string
	if old := s.blocks[id]; old != nil {
		stale = s.drop(old)
	}
	s.blocks[id] = e
	e.elem = s.lru.PushFront(e)
	s.records += int64(e.records)
	s.memBytes += e.size
	victims := s.pickVictims(e)
	if len(victims) > 0 {
		s.inflight.Add(1)
	}
	s.mu.Unlock()
	removeFile(stale)
	if len(victims) == 0 {
		return nil
	}
	defer s.inflight.Done()
	return s.spill(victims)
}

// PutEncoded stores a block received in encoded form (a replica sent by a
// peer). It decodes the block and puts it.
func (s *Store) PutEncoded(id ID, b []byte, typ lineage.Type) error {
	v, err := typ.Decode(b)
	if err != nil {
		return fmt.Errorf("blockstore: decode %v (%s): %w", id, typ.Name(), err)
	}
	return s.Put(id, v, typ)
}

// drop takes e out of the store's accounting and returns its spill file,
// for the caller to delete after unlocking. s.mu must be held.
func (s *Store) drop(e *entry) (file string) {
	delete(s.blocks, e.id)
	e.dropped = true
	s.records -= int64(e.records)
	switch e.state {
	case inMemory:
		s.lru.Remove(e.elem)
		e.elem = nil
		s.memBytes -= e.size
	case spilling: // the spilling Put deletes the file it writes
		s.memBytes -= e.size
		s.pending -= e.size
	case onDisk:
		s.spilledBlocks--
		s.spilledBytes -= e.disk
		file = e.file
	}
	return file
}

// pickVictims marks the blocks to spill so that the memory left after the
// spills in progress fits the budget: least recently used first, sparing
// the block just put unless it alone exceeds the budget. s.mu must be held.
func (s *Store) pickVictims(put *entry) []*entry {
	over := s.memBytes - s.pending - s.budget
	if s.budget < 0 || over <= 0 {
		return nil
	}
	var victims []*entry
	if put.size > s.budget && !put.pinned {
		s.markSpilling(put)
		victims = append(victims, put)
		over -= put.size
	}
	for el := s.lru.Back(); el != nil && over > 0; {
		e, prev := el.Value.(*entry), el.Prev()
		if e != put && !e.pinned {
			s.markSpilling(e)
			victims = append(victims, e)
			over -= e.size
		}
		el = prev
	}
	return victims
}

func (s *Store) markSpilling(e *entry) {
	s.lru.Remove(e.elem)
	e.elem = nil
	e.state = spilling
	s.pending += e.size
}

// Get returns block id. A block in memory is marked as recently used; a
// spilled block is read and decoded, and kept in memory again if it fits
// the budget. On error v is nil and ok false.
func (s *Store) Get(id ID) (v any, ok bool, err error) {
	for try := 0; ; try++ {
		s.mu.Lock()
		e := s.blocks[id]
		if e == nil {
			s.mu.Unlock()
			return nil, false, nil
		}
		if e.state != onDisk {
			if e.elem != nil {
				s.lru.MoveToFront(e.elem)
			}
			v := e.v
			s.mu.Unlock()
			return v, true, nil
		}
		file := e.file
		s.mu.Unlock()

		payload, err := readSpill(id, file)
		if err != nil {
			if try < maxRetries && errors.Is(err, fs.ErrNotExist) && s.moved(e, file) {
				continue // loaded back or removed meanwhile: look again
			}
			return nil, false, err
		}
		v, err := e.typ.Decode(payload)
		if err != nil {
			return nil, false, corruptError(id, file, err)
		}
		s.load(e, file, v)
		return v, true, nil
	}
}

// maxRetries bounds how often Get and Encoded look a block up again after
// its spill file vanished because another goroutine moved the block.
const maxRetries = 4

// moved reports whether e no longer lives in file.
func (s *Store) moved(e *entry, file string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.dropped || e.state != onDisk || e.file != file
}

// load keeps v, just read from file, in memory if e is still spilled there
// and fits the budget without spilling another block, and deletes the file.
func (s *Store) load(e *entry, file string, v any) {
	s.mu.Lock()
	fits := s.budget < 0 || s.memBytes-s.pending+e.size <= s.budget
	if e.dropped || e.state != onDisk || e.file != file || !fits {
		s.mu.Unlock()
		return
	}
	e.state, e.v, e.file = inMemory, v, ""
	e.elem = s.lru.PushFront(e)
	s.memBytes += e.size
	s.spilledBlocks--
	s.spilledBytes -= e.disk
	e.disk = 0
	s.mu.Unlock()
	removeFile(file)
}

// Encoded returns block id in the record codec's format (to send it to a
// peer): encoded from memory, or read from its spill file without decoding.
// It does not mark the block as used.
func (s *Store) Encoded(id ID) (b []byte, ok bool, err error) {
	for try := 0; ; try++ {
		s.mu.Lock()
		e := s.blocks[id]
		if e == nil {
			s.mu.Unlock()
			return nil, false, nil
		}
		if e.state != onDisk {
			v := e.v
			s.mu.Unlock()
			b, err := safeEncode(nil, e.typ, v)
			return b, err == nil, err
		}
		file := e.file
		s.mu.Unlock()
		payload, err := readSpill(id, file)
		if err != nil {
			if try < maxRetries && errors.Is(err, fs.ErrNotExist) && s.moved(e, file) {
				continue
			}
			return nil, false, err
		}
		return payload, true, nil
	}
}

// Has reports whether the store holds block id, in memory or spilled.
func (s *Store) Has(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocks[id] != nil
}

// Remove drops the blocks of the given datasets and deletes their spill
// files.
func (s *Store) Remove(datasets map[lineage.ID]bool) {
	var files []string
	s.mu.Lock()
	for id, e := range s.blocks {
		if datasets[id.Dataset] {
			if f := s.drop(e); f != "" {
				files = append(files, f)
			}
		}
	}
	s.mu.Unlock()
	for _, f := range files {
		removeFile(f)
	}
}

// Stats reports what the store holds.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Blocks:        len(s.blocks),
		Records:       s.records,
		MemoryBytes:   s.memBytes,
		SpilledBlocks: s.spilledBlocks,
		SpilledBytes:  s.spilledBytes,
		Spills:        s.spills,
		SpillErrors:   s.spillErrors,
	}
}

// IDs lists the blocks held, sorted (for tests and status pages).
func (s *Store) IDs() []ID {
	s.mu.Lock()
	ids := make([]ID, 0, len(s.blocks))
	for id := range s.blocks {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.SortFunc(ids, func(a, b ID) int {
		return cmp.Or(
			cmp.Compare(a.Dataset.Node, b.Dataset.Node),
			cmp.Compare(a.Dataset.Time, b.Dataset.Time),
			cmp.Compare(a.Dataset.Seq, b.Dataset.Seq),
			cmp.Compare(a.Part, b.Part))
	})
	return ids
}

// Close drops all blocks, waits for spills in progress, deletes the spill
// files and removes the spill directory if the store created it. Put fails
// with ErrClosed afterwards; Get finds nothing.
func (s *Store) Close() error {
	var files []string
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, e := range s.blocks {
		if f := s.drop(e); f != "" {
			files = append(files, f)
		}
	}
	s.mu.Unlock()
	s.inflight.Wait()
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.removeDir())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blockstore: close: %w", err)
	}
	return nil
}
