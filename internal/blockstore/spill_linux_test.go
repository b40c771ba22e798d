package blockstore

import (
	"errors"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of 64 KiB on a new directory, or skips the
// test if that is not allowed. It unmounts it when the test ends.
func mountTmpfs(t *testing.T, flags uintptr) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// newMountedStore returns a store spilling to dir, closed before dir is
// unmounted.
func newMountedStore(t *testing.T, dir string) *Store {
	s := New(Config{MemoryBytes: 2 * blockSize, SpillDir: dir})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSpillFullDisk(t *testing.T) {
	s := newMountedStore(t, mountTmpfs(t, 0))
	const recs = 2000 // about 20 KB a block: the third spill does not fit
	var err error
	n := 0
	for ; n < 20 && err == nil; n++ {
		err = s.Put(bid(n), block(n, recs), strs)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d Puts: %v; want ENOSPC", n, err)
	}
	t.Log(err)
	for i := range n {
		mustGet(t, s, i, recs)
	}
	st := s.Stats()
	if st.Blocks != n || st.SpillErrors == 0 || st.SpilledBlocks == 0 {
		t.Fatalf("Stats = %+v", st)
	}
	checkInvariants(t, s)
	if files := spillFiles(t, s); len(files) != st.SpilledBlocks {
		t.Fatalf("files %q left beside %d spilled blocks", files, st.SpilledBlocks)
	}
}

func TestSpillReadOnlyDir(t *testing.T) {
	s := newMountedStore(t, mountTmpfs(t, syscall.MS_RDONLY))
	mustPut(t, s, 0, 10)
	err := s.Put(bid(1), block(1, 1000), strs)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Put = %v; want EROFS", err)
	}
	t.Log(err)
	mustGet(t, s, 0, 10)
	mustGet(t, s, 1, 1000)
	checkInvariants(t, s)
}
