package lineage

import (
	"fmt"
	"sync"
)

// Registry maps dataset IDs to datasets, so that a task descriptor (which
// names a dataset by ID) can be resolved by the process that runs it.
type Registry struct {
	mu    sync.Mutex
	byID  map[ID]*Dataset
	scope map[scopeKey]*Scope
}

type scopeKey struct {
	node int32
	time int64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byID: make(map[ID]*Dataset), scope: make(map[scopeKey]*Scope)}
}

// Scope returns the scope that names datasets made by node at time t.
// The same (node, t) always returns the same scope, whose sequence numbers
// continue where they stopped.
func (r *Registry) Scope(node int32, t int64) *Scope {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := scopeKey{node, t}
	s := r.scope[k]
	if s == nil {
		s = &Scope{reg: r, node: node, time: t}
		r.scope[k] = s
	}
	return s
}

// Lookup returns the dataset with the given ID.
func (r *Registry) Lookup(id ID) (*Dataset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.byID[id]
	if d == nil {
		return nil, fmt.Errorf("lineage: unknown dataset %v", id)
	}
	return d, nil
}

// Forget drops the datasets and scopes of node with batch times before t
// and returns their IDs so that their blocks can be freed.
func (r *Registry) Forget(node int32, before int64) []ID { return r.ForgetKeeping(node, before, 0) }

// ForgetKeeping is Forget, keeping the datasets of batch time keep (a
// state's truncated dataset, whose blocks are its only copy).
func (r *Registry) ForgetKeeping(node int32, before, keep int64) []ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []ID
	for id := range r.byID {
		if id.Node == node && id.Time < before && id.Time != 0 && id.Time != keep {
			ids = append(ids, id)
			delete(r.byID, id)
		}
	}
	for k := range r.scope {
		if k.node == node && k.time < before && k.time != 0 && k.time != keep {
			delete(r.scope, k)
		}
	}
	return ids
}

// Len returns the number of registered datasets (for leak tests).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// Scope hands out deterministic IDs for the datasets one stream node makes
// at one batch time.
type Scope struct {
	reg  *Registry
	node int32
	time int64
	mu   sync.Mutex
	seq  int32
}

// Time is the scope's batch time.
func (s *Scope) Time() int64 { return s.time }

// Node is the scope's stream node.
func (s *Scope) Node() int32 { return s.node }

// Next returns the sequence number the next Alloc will give.
func (s *Scope) Next() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Alloc reserves the next ID of the scope. Use it with NewWithID when the
// dependencies need the child's ID first (shuffle IDs name their child).
func (s *Scope) Alloc() ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ID{Node: s.node, Time: s.time, Seq: s.seq}
	s.seq++
	return id
}

// New makes and registers a dataset in this scope.
func (s *Scope) New(op string, typ Type, parts int, compute ComputeFunc, deps ...Dep) *Dataset {
	return s.NewWithID(s.Alloc(), op, typ, parts, compute, deps...)
}

// NewWithID makes and registers a dataset with an ID from Alloc.
func (s *Scope) NewWithID(id ID, op string, typ Type, parts int, compute ComputeFunc, deps ...Dep) *Dataset {
	if parts < 0 {
		panic(fmt.Sprintf("lineage: %s with %d partitions", op, parts))
	}
	d := &Dataset{ID: id, Op: op, Type: typ, NumParts: parts, Deps: deps, Scope: s, compute: compute}
	s.reg.mu.Lock()
	s.reg.byID[id] = d
	s.reg.mu.Unlock()
	return d
}

// New makes a dataset that no registry holds: one found by other means
// than a lookup of its scope (a received input block, whose ID says what
// it is). It has no Scope.
func New(id ID, op string, typ Type, parts int, compute ComputeFunc, deps ...Dep) *Dataset {
	if parts < 0 {
		panic(fmt.Sprintf("lineage: %s with %d partitions", op, parts))
	}
	return &Dataset{ID: id, Op: op, Type: typ, NumParts: parts, Deps: deps, compute: compute}
}

// Remove forgets one dataset: one made for a single job (a state lookup)
// once the job ended.
func (r *Registry) Remove(id ID) {
	r.mu.Lock()
	delete(r.byID, id)
	r.mu.Unlock()
}
