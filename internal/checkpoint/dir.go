package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Dir is a Store in a local (or network) directory: the object under key
// "a/b/c" is the file <dir>/a/b/c. See the package doc for how Put stays
// atomic and durable.
type Dir struct {
	// name is the directory as given, made absolute: for messages.
	name string
	// root is name with symbolic links resolved, so that walking it for
	// List and Clean does not stop at a link.
	root string
}

const (
	// StaleTempAge is how old a temporary file must be for Open to remove
	// it as the leftover of a killed writer. A live writer's file is younger:
	// it is modified at least every writeChunk bytes, then renamed.
	StaleTempAge = 15 * time.Minute
	// tempMark starts the suffix of a temporary file's name
	// (part-00003#1f2e3d4c5b6a7988.tmp). It is not a key byte, so no key
	// names a temporary file and List skips them.
	tempMark = "#"
	// tempSuffix ends a temporary file's name.
	tempSuffix = ".tmp"
	// writeChunk is how much Put writes (and Get reads) between two checks
	// of the context.
	writeChunk = 8 << 20
	// maxCreateAttempts bounds the retries of a Put whose new directory
	// was removed (by a concurrent Delete of the last key in it) before the
	// temporary file was created there.
	maxCreateAttempts = 8
)

// NewDir returns a Dir in dir, which it creates (with its parents) if
// needed. It does not remove stale temporary files: Open does, or call
// Clean.
func NewDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("checkpoint: empty directory name")
	}
	name, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(name, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: dir %s: %w", name, err)
	}
	root, err := filepath.EvalSymlinks(name)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: dir %s: %w", name, err)
	}
	return &Dir{name: name, root: root}, nil
}

// String returns "dir " and the directory's absolute path.
func (d *Dir) String() string { return "dir " + d.name }

// Path returns the directory's absolute path.
func (d *Dir) Path() string { return d.name }

// Close does nothing: a Dir holds no open files between calls.
func (d *Dir) Close() error { return nil }

// path returns the file of key (or of a valid prefix up to a slash).
func (d *Dir) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

// Put writes data to a temporary file beside the key's file, syncs it,
// renames it over the key's file and syncs the directory. On an error
// nothing is left: neither the temporary file nor a changed object.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := checkPut(ctx, key, data); err != nil {
		return opError("put", key, d, err)
	}
	if err := d.put(ctx, key, data); err != nil {
		return opError("put", key, d, err)
	}
	return nil
}

func (d *Dir) put(ctx context.Context, key string, data []byte) error {
	f, madeDirs, err := d.createTemp(key)
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = writeAll(ctx, f, data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(tmp, d.path(key))
	}
	if err != nil {
		os.Remove(tmp)
		if madeDirs {
			d.prune(filepath.Dir(tmp))
		}
		return err
	}
	return d.syncDirs(key, madeDirs)
}

// createTemp creates a new temporary file in the key's directory, making
// the directories if needed; madeDirs says it had to.
func (d *Dir) createTemp(key string) (f *os.File, madeDirs bool, err error) {
	p := d.path(key)
	for range maxCreateAttempts {
		name := p + tempMark + fmt.Sprintf("%016x", rand.Uint64()) + tempSuffix
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		switch {
		case err == nil:
			return f, madeDirs, nil
		case errors.Is(err, syscall.ENOTDIR):
			return nil, false, conflictThrough(key)
		case errors.Is(err, fs.ErrNotExist):
			madeDirs = true
			// A directory that mkdirs made or found may go before the
			// next is made in it: then try again.
			if merr := d.mkdirs(key); merr != nil && !errors.Is(merr, fs.ErrNotExist) {
				return nil, false, merr
			}
		case !errors.Is(err, fs.ErrExist):
			return nil, false, err
		}
		// ErrExist: a name taken by chance; ErrNotExist: a directory gone.
	}
	return nil, false, fmt.Errorf("creating a temporary file failed %d times: %w", maxCreateAttempts, err)
}

// mkdirs creates the directories of key.
func (d *Dir) mkdirs(key string) error {
	parts := strings.Split(key, "/")
	p := d.root
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		err := os.Mkdir(p, 0o755)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrExist):
			if fi, serr := os.Stat(p); serr == nil && !fi.IsDir() {
				return conflictThrough(key)
			}
		case errors.Is(err, syscall.ENOTDIR):
			return conflictThrough(key)
		default:
			return err
		}
	}
	return nil
}

// rename renames the temporary file over the key's, and reports a key that
// is a directory as a conflict.
func rename(tmp, p string) error {
	err := os.Rename(tmp, p)
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("%w: keys exist under %s/", ErrConflict, filepath.Base(p))
	}
	return err
}

func conflictThrough(key string) error {
	return fmt.Errorf("%w: a directory of %s is an object", ErrConflict, key)
}

// syncDirs syncs the key's directory, so that the rename survives a crash,
// and, if Put had to make directories, every directory up to the root,
// since a new directory's entry lives in its parent. (It syncs them all
// rather than only those this Put made: a concurrent Put may have made one
// and not synced it yet.)
func (d *Dir) syncDirs(key string, madeDirs bool) error {
	dir := filepath.Dir(d.path(key))
	for {
		if err := syncDir(dir); err != nil {
			return err
		}
		if !madeDirs || dir == d.root {
			return nil
		}
		dir = filepath.Dir(dir)
	}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAll writes data to f in chunks, checking ctx between them.
func writeAll(ctx context.Context, f *os.File, data []byte) error {
	for len(data) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(data), writeChunk)
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Get reads the key's file. A directory is not an object: Get of "a" when
// "a/b" exists returns ErrNotFound.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkOp(ctx, key); err != nil {
		return nil, opError("get", key, d, err)
	}
	data, err := d.get(ctx, key)
	if err != nil {
		return nil, opError("get", key, d, err)
	}
	return data, nil
}

func (d *Dir) get(ctx context.Context, key string) ([]byte, error) {
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, ErrNotFound
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", f.Name())
	}
	if err := checkSize(fi.Size()); err != nil {
		return nil, err
	}
	// The file is never changed in place (Put renames a new one over it),
	// so its size is that of the object.
	data := make([]byte, fi.Size())
	for off := 0; off < len(data); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := io.ReadFull(f, data[off:min(len(data), off+writeChunk)])
		off += n
		if err != nil {
			return nil, fmt.Errorf("%s: read %d of %d bytes: %w", f.Name(), off, len(data), err)
		}
	}
	return data, nil
}

// List walks the directory of the prefix (up to its last slash), skipping
// temporary files, and any file or directory whose name cannot be part of
// a key (lost+found, an editor's backup~).
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkList(ctx, prefix); err != nil {
		return nil, opError("list", prefix, d, err)
	}
	keys, err := d.list(ctx, prefix)
	if err != nil {
		return nil, opError("list", prefix, d, err)
	}
	return keys, nil
}

func (d *Dir) list(ctx context.Context, prefix string) ([]string, error) {
	start := d.path(prefix[:strings.LastIndexByte(prefix, '/')+1])
	var keys []string
	err := filepath.WalkDir(start, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			// A directory removed by a concurrent Delete, or a prefix
			// whose directory does not exist or is an object: no keys.
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == start {
			return nil
		}
		rel := filepath.ToSlash(p[len(d.root)+1:])
		if de.IsDir() {
			if !strings.HasPrefix(rel+"/", prefix) && !strings.HasPrefix(prefix, rel+"/") || validPrefix(rel+"/") != nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() || !strings.HasPrefix(rel, prefix) || ValidKey(rel) != nil {
			return nil
		}
		if len(keys) == MaxListKeys {
			return fmt.Errorf("%w: more than %d", ErrTooManyKeys, MaxListKeys)
		}
		keys = append(keys, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir visits "a/b" before "a-c"; keys sort by bytes, '-' < '/'.
	slices.Sort(keys)
	return keys, nil
}

// Delete removes the keys' files, then the directories this leaves empty.
// Deletes are not synced: a crash may bring a deleted object back, never
// lose one that was not deleted.
func (d *Dir) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return deleteError(keys, d, err)
	}
	if err := validKeys(keys); err != nil {
		return deleteError(keys, d, err)
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return deleteError(keys, d, err)
		}
		if err := d.delete(key); err != nil {
			return opError("delete", key, d, err)
		}
	}
	return nil
}

func (d *Dir) delete(key string) error {
	p := d.path(key)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || err == nil && fi.IsDir() {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d.prune(filepath.Dir(p))
	return nil
}

// prune removes dir and its parents up to the root while they are empty.
// Rmdir fails on a directory that is not empty, which ends the climb; a
// concurrent Put whose new directory goes meanwhile makes it again
// (createTemp).
func (d *Dir) prune(dir string) {
	for ; dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if syscall.Rmdir(dir) != nil {
			return
		}
	}
}

// Clean removes the temporary files older than age that killed writers
// left behind, and returns how many it removed. Open calls it with
// StaleTempAge. A temporary file is never seen by Get or List, so Clean is
// about disk space only.
func (d *Dir) Clean(ctx context.Context, age time.Duration) (int, error) {
	removed := 0
	cutoff := time.Now().Add(-age)
	err := filepath.WalkDir(d.root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !de.Type().IsRegular() || !isTemp(de.Name()) {
			return nil
		}
		fi, err := de.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone meanwhile, or too young
		}
		if err := os.Remove(p); err == nil {
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("checkpoint: clean %s: %w", d, err)
	}
	return removed, nil
}

// isTemp reports whether name is a temporary file's.
func isTemp(name string) bool {
	i := strings.LastIndex(name, tempMark)
	return i > 0 && strings.HasSuffix(name, tempSuffix) && ValidKey(name[:i]) == nil
}

// tornPut leaves what a writer killed in the middle of a Put leaves: a
// temporary file holding the first half of data. For Faulty.
func (d *Dir) tornPut(key string, data []byte) error {
	f, _, err := d.createTemp(key)
	if err != nil {
		return err
	}
	_, err = f.Write(data[:len(data)/2])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
