package blockstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSpillErrorKeepsBlocks(t *testing.T) {
	s := newStore(t, blockSize)
	dir := s.dirCfg
	s.writeFile = func(name string, b []byte) error {
		return &fs.PathError{Op: "write", Path: name + ".tmp", Err: syscall.ENOSPC}
	}
	mustPut(t, s, 0, 10)
	err := s.Put(bid(1), block(1, 10), strs)
	want := "blockstore: spill n1@1000#0/0 to " + dir + ": no space left on device"
	if err == nil || err.Error() != want || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put = %v; want %q wrapping ENOSPC", err, want)
	}
	st := s.Stats()
	if st.Blocks != 2 || st.SpillErrors != 1 || st.Spills != 0 || st.MemoryBytes != 2*blockSize {
		t.Fatalf("Stats = %+v", st)
	}
	mustGet(t, s, 0, 10)
	mustGet(t, s, 1, 10)
	checkInvariants(t, s)

	// Once the disk has room, the next Put spills what is over the budget.
	s.writeFile = writeFileAtomic
	mustPut(t, s, 2, 10)
	if st := s.Stats(); st.SpilledBlocks != 2 || st.MemoryBytes != blockSize {
		t.Fatalf("after recovery: %+v", st)
	}
	for i := range 3 {
		mustGet(t, s, i, 10)
	}
	checkInvariants(t, s)
}

func TestSpillErrorStopsAtFirstFailure(t *testing.T) {
	s := newStore(t, 3*blockSize)
	writes := 0
	s.writeFile = func(name string, b []byte) error {
		writes++
		return syscall.EIO
	}
	for i := range 3 {
		mustPut(t, s, i, 10)
	}
	if err := s.Put(bid(3), block(3, 30), strs); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Put = %v", err)
	}
	if writes != 1 {
		t.Fatalf("%d writes, want 1", writes)
	}
	checkInvariants(t, s)
}

func TestSpillDirNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "spill")
	s := New(Config{MemoryBytes: 1, SpillDir: dir})
	defer s.Close()
	err := s.Put(bid(0), block(0, 10), strs)
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Put = %v; want ENOTDIR", err)
	}
	t.Log(err)
	mustGet(t, s, 0, 10)
}
