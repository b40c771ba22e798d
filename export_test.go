package sluice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// EngineCounts reports what the engine holds, for leak tests: registered
// datasets, cached blocks known to the driver, shuffles with outputs, and
// blocks and map outputs held by the workers.
func EngineCounts(c *Context) (datasets, cached, shuffles, workerBlocks, workerOutputs int) {
	st := c.env.driver.Stats()
	if c.cl != nil { // as of the workers' first heartbeats after now
		now := time.Now()
		ws := c.cl.drv.Workers()
		for deadline := now.Add(5 * time.Second); time.Now().Before(deadline); ws = c.cl.drv.Workers() {
			fresh := true
			for _, w := range ws {
				fresh = fresh && w.LastSeen.After(now)
			}
			if fresh {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, w := range ws {
			workerBlocks += w.Blocks
			workerOutputs += w.Shuffles
		}
		return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
	}
	for _, name := range c.env.local.Workers() {
		w := c.env.local.Worker(name)
		workerBlocks += w.Blocks.Stats().Blocks
		workerOutputs += w.Shuffle.Len()
	}
	return c.reg.Len(), st.CachedBlocks, st.Shuffles, workerBlocks, workerOutputs
}

// memStores are the checkpoint stores of tests, by "mem://NAME" location.
var memStores = struct {
	sync.Mutex
	m map[string]*memStore
}{m: make(map[string]*memStore)}

func init() {
	real := openStore
	openStore = func(ctx context.Context, loc string) (store, error) {
		if !strings.HasPrefix(loc, "mem://") {
			return real(ctx, loc)
		}
		memStores.Lock()
		defer memStores.Unlock()
		s := memStores.m[loc]
		if s == nil {
			s = &memStore{name: loc, objs: make(map[string][]byte)}
			memStores.m[loc] = s
		}
		return s, nil
	}
}

// MemStoreKeys lists the keys of a test's in-memory checkpoint store.
func MemStoreKeys(loc, prefix string) []string {
	memStores.Lock()
	s := memStores.m[loc]
	memStores.Unlock()
	if s == nil {
		return nil
	}
	ks, _ := s.List(context.Background(), prefix)
	return ks
}

// memStore is an in-memory checkpoint store for unit tests.
type memStore struct {
	name string
	mu   sync.Mutex
	objs map[string][]byte
}

func (s *memStore) Put(_ context.Context, key string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = append([]byte(nil), b...)
	return nil
}

func (s *memStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: not found", key)
	}
	return b, nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *memStore) Delete(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.objs, k)
	}
	return nil
}

func (s *memStore) String() string { return s.name }

// Crash stops c as a killed driver would: no final checkpoint, no
// metadata after the batch in flight.
func Crash(c *Context) {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
	c.Stop()
}
