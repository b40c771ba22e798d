package checkpoint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Mem is a Store in memory, for tests. It follows the same rules as Dir,
// including ErrConflict, so that code tested against Mem works on disk.
// Put and Get copy the data: the store never shares a slice with its caller.
type Mem struct {
	mu      sync.Mutex
	objects map[string][]byte
	// dirs counts, for each "directory" (a proper prefix of a key ending
	// before a slash: "a" and "a/b" for "a/b/c"), the keys under it, so
	// that Put finds conflicts without a scan.
	dirs map[string]int
}

// NewMem returns an empty Mem.
func NewMem() *Mem {
	return &Mem{objects: make(map[string][]byte), dirs: make(map[string]int)}
}

// String returns "mem".
func (m *Mem) String() string { return "mem" }

// Close does nothing: a Mem holds nothing but memory, and stays usable.
func (m *Mem) Close() error { return nil }

// Put stores a copy of data under key.
func (m *Mem) Put(ctx context.Context, key string, data []byte) error {
	if err := checkPut(ctx, key, data); err != nil {
		return opError("put", key, m, err)
	}
	c := slices.Clone(data)
	if c == nil {
		c = []byte{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.conflict(key); err != nil {
		return opError("put", key, m, err)
	}
	if _, ok := m.objects[key]; !ok {
		forDirs(key, func(d string) { m.dirs[d]++ })
	}
	m.objects[key] = c
	return nil
}

// conflict returns an error wrapping ErrConflict if key is a directory of
// another key or goes through one.
func (m *Mem) conflict(key string) error {
	if m.dirs[key] > 0 {
		return fmt.Errorf("%w: keys exist under %s/", ErrConflict, key)
	}
	var err error
	forDirs(key, func(d string) {
		if _, ok := m.objects[d]; ok && err == nil {
			err = fmt.Errorf("%w: %s is an object", ErrConflict, d)
		}
	})
	return err
}

// Get returns a copy of the object under key.
func (m *Mem) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkOp(ctx, key); err != nil {
		return nil, opError("get", key, m, err)
	}
	m.mu.Lock()
	data, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, opError("get", key, m, ErrNotFound)
	}
	return slices.Clone(data), nil
}

// List returns the keys under prefix, sorted.
func (m *Mem) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkList(ctx, prefix); err != nil {
		return nil, opError("list", prefix, m, err)
	}
	var keys []string
	m.mu.Lock()
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	if len(keys) > MaxListKeys {
		return nil, opError("list", prefix, m, fmt.Errorf("%w: more than %d", ErrTooManyKeys, MaxListKeys))
	}
	slices.Sort(keys)
	return keys, nil
}

// Delete removes keys.
func (m *Mem) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return deleteError(keys, m, err)
	}
	if err := validKeys(keys); err != nil {
		return deleteError(keys, m, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if _, ok := m.objects[k]; !ok {
			continue
		}
		delete(m.objects, k)
		forDirs(k, func(d string) {
			if m.dirs[d]--; m.dirs[d] == 0 {
				delete(m.dirs, d)
			}
		})
	}
	return nil
}

// forDirs calls f with each directory of key: "a" and "a/b" for "a/b/c".
func forDirs(key string, f func(dir string)) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			f(key[:i])
		}
	}
}

// checkPut runs the checks every Put starts with: the context, the key, the
// size.
func checkPut(ctx context.Context, key string, data []byte) error {
	if err := checkOp(ctx, key); err != nil {
		return err
	}
	return checkSize(int64(len(data)))
}

// checkOp checks the context and the key of a Get or Put.
func checkOp(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidKey(key)
}

// checkList checks the context and the prefix of a List.
func checkList(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return validPrefix(prefix)
}
