package file

import (
	"io"
	"os"
)

// fsys is what the sink changes on disk through: the operating system's
// file system, or in tests one that fails (crashes) after a number of
// operations, to check that a crash at any step leaves the output
// readable exactly once. Reads go to os directly: they change nothing.
type fsys interface {
	MkdirAll(path string) error
	CreateTemp(dir, pattern string) (wfile, error)
	Rename(oldpath, newpath string) error
	RemoveAll(path string) error
	SyncDir(dir string) error
}

// wfile is a file being written.
type wfile interface {
	io.Writer
	Name() string
	Chmod(os.FileMode) error
	Sync() error
	Close() error
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) MkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

func (osFS) CreateTemp(dir, pattern string) (wfile, error) { return os.CreateTemp(dir, pattern) }

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) RemoveAll(path string) error { return os.RemoveAll(path) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
