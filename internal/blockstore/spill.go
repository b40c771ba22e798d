package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/lineage"
)

// spill writes victims, marked spilling by pickVictims, to disk in order.
// It stops at the first failure, which is likely to repeat (a full disk),
// and returns the blocks not written to memory.
func (s *Store) spill(victims []*entry) error {
	for i, e := range victims {
		if err := s.spillOne(e); err != nil {
			s.restore(victims[i:])
			return err
		}
	}
	return nil
}

// spillOne encodes e and writes it to a new file, without holding s.mu.
func (s *Store) spillOne(e *entry) error {
	dir, err := s.ensureDir()
	if err != nil {
		return spillError(e.id, dir, err)
	}
	name := filepath.Join(dir, fileName(e.id, s.seq.Add(1)))
	b, err := encodeSpill(make([]byte, headerLen, headerLen+e.size), e.typ, e.v)
	if err != nil {
		return err
	}
	if err := s.writeFile(name, b); err != nil {
		return spillError(e.id, dir, err)
	}
	s.mu.Lock()
	if e.dropped { // replaced or removed while we wrote it
		s.mu.Unlock()
		removeFile(name)
		return nil
	}
	s.pending -= e.size
	s.memBytes -= e.size
	e.state, e.v, e.file, e.disk = onDisk, nil, name, int64(len(b))
	s.spilledBlocks++
	s.spilledBytes += e.disk
	s.spills++
	s.mu.Unlock()
	return nil
}

// spillError names the block and the directory; a *fs.PathError is
// unwrapped since its path (a temporary name) says less than the directory.
func spillError(id ID, dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("blockstore: spill %v to %s: %w", id, dir, err)
}

// restore returns blocks to memory after a failed spill (of es[0]; the
// others were not tried), as the least recently used, so that the next
// spill tries them first.
func (s *Store) restore(es []*entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spillErrors++
	for _, e := range es {
		if e.dropped {
			continue
		}
		s.pending -= e.size
		e.state = inMemory
		e.elem = s.lru.PushBack(e)
	}
}

// ensureDir returns the spill directory, creating it on first use. On
// failure it returns the directory it tried, for messages.
func (s *Store) ensureDir() (string, error) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if s.dir != "" {
		return s.dir, nil
	}
	if s.dirCfg == "" {
		d, err := os.MkdirTemp(os.TempDir(), fmt.Sprintf("sluice-blocks-%d-", os.Getpid()))
		if err != nil {
			return os.TempDir(), err
		}
		s.dir, s.created = d, true
		return d, nil
	}
	_, err := os.Stat(s.dirCfg)
	missing := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(s.dirCfg, 0o700); err != nil {
		return s.dirCfg, err
	}
	s.dir, s.created = s.dirCfg, missing
	return s.dir, nil
}

// removeDir removes the spill directory if the store created it.
func (s *Store) removeDir() error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if !s.created {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.dir, s.created = "", false
	return err
}

// fileName derives a spill file's name from a block ID, using only
// letters, digits, '_', '-' and '.'. n makes it unique within the store,
// so that deleting an old file never races with writing a new one.
func fileName(id ID, n uint64) string {
	d := id.Dataset
	return fmt.Sprintf("n%d_t%d_s%d_p%d_%d.blk", d.Node, d.Time, d.Seq, id.Part, n)
}

// writeFileAtomic writes b to a temporary name and renames it to name, so
// that name holds the whole block or does not exist. It does not sync:
// spill files do not outlive the process that wrote them.
func writeFileAtomic(name string, b []byte) error {
	tmp := name + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// removeFile deletes a spill file if name is set. Failures are ignored:
// the file is garbage either way and Close removes the directory.
func removeFile(name string) {
	if name != "" {
		os.Remove(name)
	}
}

// A spill file is a header followed by the payload, the block as the
// record codec encodes it:
//
//	magic   [4]byte "slb1"
//	crc     uint32  CRC-32C (Castagnoli) of the payload
//	length  uint64  length of the payload
const headerLen = 16

var (
	spillMagic = [4]byte{'s', 'l', 'b', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// encodeSpill appends v's encoding to hdr, a headerLen-byte buffer, and
// fills in the header.
func encodeSpill(hdr []byte, typ lineage.Type, v any) ([]byte, error) {
	b, err := safeEncode(hdr, typ, v)
	if err != nil {
		return nil, err
	}
	payload := b[headerLen:]
	copy(b, spillMagic[:])
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint64(b[8:], uint64(len(payload)))
	return b, nil
}

// readSpill reads block id's spill file and returns its payload after
// checking the header. Its errors name the block and the file; a damaged
// file wraps ErrCorrupt.
func readSpill(id ID, name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("blockstore: read %v: %w", id, err)
	}
	payload, err := parseSpill(b)
	if err != nil {
		return nil, corruptError(id, name, err)
	}
	return payload, nil
}

// corruptError reports that spill file name of block id is damaged.
func corruptError(id ID, name string, err error) error {
	return fmt.Errorf("%w %s (block %v): %w", ErrCorrupt, name, id, err)
}

// parseSpill checks a spill file's header and returns its payload.
func parseSpill(b []byte) ([]byte, error) {
	if len(b) < headerLen || [4]byte(b[:4]) != spillMagic {
		return nil, errors.New("bad header")
	}
	payload := b[headerLen:]
	if n := binary.LittleEndian.Uint64(b[8:]); n != uint64(len(payload)) {
		return nil, fmt.Errorf("payload is %d bytes, header says %d", len(payload), n)
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}
