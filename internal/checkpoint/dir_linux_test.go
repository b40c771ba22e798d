package checkpoint

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of 1 MiB on a new directory, or skips the test
// if that is not allowed (it needs root, or CAP_SYS_ADMIN). It unmounts it
// when the test ends.
func mountTmpfs(t *testing.T, flags uintptr) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (run as root to test a full disk): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestDirFullDisk(t *testing.T) {
	d, err := NewDir(mountTmpfs(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte("o"), 600<<10)
	mustPut(t, d, "state/op/1/part-00000", old)
	big := bytes.Repeat([]byte("n"), 600<<10) // fits alone, not beside old
	for _, key := range []string{"state/op/1/part-00000", "state/op/2/part-00000"} {
		err := d.Put(testContext(t), key, big)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Put(%q) on a full disk = %v; want ENOSPC", key, err)
		}
		if msg := err.Error(); !strings.Contains(msg, key) || !strings.Contains(msg, d.String()) {
			t.Errorf("error %q does not name the key and the store", msg)
		}
		t.Log(err)
	}
	mustGet(t, d, "state/op/1/part-00000", old)
	mustNotFound(t, d, "state/op/2/part-00000")
	mustList(t, d, "", []string{"state/op/1/part-00000"})
	if temps := tempFiles(t, d.Path()); len(temps) != 0 {
		t.Fatalf("a failed Put left %q", temps)
	}
	// The store works again once there is room.
	mustPut(t, d, "metadata/1", []byte("small"))
	if err := d.Delete(testContext(t), "state/op/1/part-00000"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "state/op/2/part-00000", big)
	mustGet(t, d, "state/op/2/part-00000", big)
}

func TestDirReadOnly(t *testing.T) {
	d, err := NewDir(mountTmpfs(t, syscall.MS_RDONLY))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Put(testContext(t), "k", []byte("x"))
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Put = %v; want EROFS", err)
	}
	t.Log(err)
	mustList(t, d, "", nil)
}
