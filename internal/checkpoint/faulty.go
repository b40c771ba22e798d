package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrInjected is returned (wrapped) by a Faulty store's failed operations.
var ErrInjected = errors.New("checkpoint: injected fault")

// Op is a set of Store operations, for Fault.
type Op uint8

const (
	OpPut Op = 1 << iota
	OpGet
	OpList
	OpDelete
	// OpAll is every operation; a Fault's zero Op means it too.
	OpAll = OpPut | OpGet | OpList | OpDelete
)

// FaultMode says what a fault does to the operation it fails.
type FaultMode uint8

const (
	// FailBefore returns the error without running the operation.
	FailBefore FaultMode = iota
	// FailAfter runs the operation, then returns the error whatever its
	// outcome: the caller cannot tell whether it took place, as after a
	// timeout on a request that reached the server.
	FailAfter
	// Crash, for a Put, leaves what a writer killed in the middle of it
	// leaves, then returns the error: in a Dir a temporary file holding half
	// the data (invisible to Get and List, removed by Clean), in other
	// stores nothing. For other operations it is FailBefore.
	Crash
)

// Fault chooses the calls a Faulty store fails and how.
type Fault struct {
	// Op is the operations it applies to; 0 for all.
	Op Op
	// Prefix, if not empty, limits it to the keys starting with it: a Put,
	// Get or Delete of one such key (a Delete of several fails if any
	// matches), a List of such a prefix.
	Prefix string
	// After is how many matching calls go through before the first fails:
	// After 2, Times 1 fails the third matching call only.
	After int
	// Times is how many matching calls fail, after After; 0 for all.
	Times int
	// Mode is what the failure does.
	Mode FaultMode
	// Err is returned, wrapped together with ErrInjected; nil for
	// ErrInjected alone.
	Err error
}

// Faulty is a Store that fails chosen calls to another (pebble's errorfs
// does this for a file system), for tests of how the engine survives a
// failed or torn checkpoint. Calls that no fault matches go to the inner
// store unchanged. It is safe for concurrent use.
type Faulty struct {
	inner Store

	mu     sync.Mutex
	faults []*faultState
	// injected counts the calls that faults failed.
	injected int
}

// faultState is a Fault with its count of matching calls.
type faultState struct {
	Fault
	seen int
}

// tornPutter is a store that can leave a torn Put behind (Dir).
type tornPutter interface {
	tornPut(key string, data []byte) error
}

// NewFaulty wraps inner; it fails nothing until faults are added.
func NewFaulty(inner Store) *Faulty {
	return &Faulty{inner: inner}
}

// Add adds a fault. Every fault counts the calls it matches; when several
// would fail a call, the first added decides how.
func (f *Faulty) Add(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft.Op == 0 {
		ft.Op = OpAll
	}
	f.faults = append(f.faults, &faultState{Fault: ft})
}

// Reset removes every fault; Injected keeps counting.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Injected returns how many calls the faults have failed so far.
func (f *Faulty) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// String returns "faulty " and the inner store's description.
func (f *Faulty) String() string { return "faulty " + f.inner.String() }

// Close closes the inner store.
func (f *Faulty) Close() error { return f.inner.Close() }

// fault returns the fault that fails a call of op on keys, if any, counting
// the call in every fault it matches.
func (f *Faulty) fault(op Op, keys ...string) (*Fault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var fired *Fault
	for _, fs := range f.faults {
		if fs.Op&op == 0 || !anyPrefix(keys, fs.Prefix) {
			continue
		}
		fs.seen++
		n := fs.seen - fs.After // 1 for the first call past After
		if fired == nil && n > 0 && (fs.Times == 0 || n <= fs.Times) {
			fired = &fs.Fault
		}
	}
	if fired == nil {
		return nil, nil
	}
	f.injected++
	err := ErrInjected
	if fired.Err != nil {
		err = fmt.Errorf("%w: %w", ErrInjected, fired.Err)
	}
	return fired, err
}

func anyPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return prefix == "" // a Delete of no keys matches only ""
}

// Put fails as a fault says, or puts.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	ft, ferr := f.fault(OpPut, key)
	if ft == nil {
		return f.inner.Put(ctx, key, data)
	}
	switch ft.Mode {
	case FailAfter:
		if err := f.inner.Put(ctx, key, data); err != nil {
			return err
		}
	case Crash:
		if tp, ok := f.inner.(tornPutter); ok && len(data) > 0 && ValidKey(key) == nil {
			if err := tp.tornPut(key, data); err != nil {
				return opError("put", key, f, fmt.Errorf("%w (leaving a torn write failed: %w)", ferr, err))
			}
		}
	}
	return opError("put", key, f, ferr)
}

// Get fails as a fault says, or gets.
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	ft, ferr := f.fault(OpGet, key)
	if ft == nil {
		return f.inner.Get(ctx, key)
	}
	if ft.Mode == FailAfter {
		if _, err := f.inner.Get(ctx, key); err != nil {
			return nil, err
		}
	}
	return nil, opError("get", key, f, ferr)
}

// List fails as a fault says, or lists.
func (f *Faulty) List(ctx context.Context, prefix string) ([]string, error) {
	ft, ferr := f.fault(OpList, prefix)
	if ft == nil {
		return f.inner.List(ctx, prefix)
	}
	if ft.Mode == FailAfter {
		if _, err := f.inner.List(ctx, prefix); err != nil {
			return nil, err
		}
	}
	return nil, opError("list", prefix, f, ferr)
}

// Delete fails as a fault says, or deletes.
func (f *Faulty) Delete(ctx context.Context, keys ...string) error {
	ft, ferr := f.fault(OpDelete, keys...)
	if ft == nil {
		return f.inner.Delete(ctx, keys...)
	}
	if ft.Mode == FailAfter {
		if err := f.inner.Delete(ctx, keys...); err != nil {
			return err
		}
	}
	return deleteError(keys, f, ferr)
}
