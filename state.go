package sluice

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// DefaultCheckpointInterval is the target interval between state
// checkpoints; the interval used is the smallest multiple of the
// operator's slide that is at least this long.
const DefaultCheckpointInterval = 10 * time.Second

// CheckpointInterval sets how often a stateful operator's state is
// checkpointed. At those batches the state's lineage is cut: its
// partitions stay in the workers' block stores and are no longer
// recomputable from older batches, which keeps lineage (and the memory it
// holds) bounded. It must be a multiple of the operator's slide.
// MapWithState also times keys out at these batches.
func CheckpointInterval(d time.Duration) OpOption {
	return func(o *opConfig) { o.checkpoint = d }
}

// InitialState gives UpdateStateByKey or MapWithState the state its keys
// start from.
func InitialState[K comparable, S any](d Dataset[KV[K, S]]) OpOption {
	return func(o *opConfig) { o.initial = d }
}

// Timeout makes MapWithState time out keys that received no record for d.
func Timeout(d time.Duration) OpOption { return func(o *opConfig) { o.timeout = d } }

// stateful validates a stateful operator's name and sets its checkpoint
// interval (in slides).
func (c *Context) stateful(op string, n *node, cfg opConfig) {
	if c.check(op, cfg.name == "", "stateful operations need a name: add sluice.Named(\"...\")") {
		return
	}
	c.mu.Lock()
	other := c.names[cfg.name]
	if other == nil {
		c.names[cfg.name] = n
	}
	c.mu.Unlock()
	c.check(op, other != nil, "name %q is already used by another stateful operation", cfg.name)
	every := cfg.checkpoint
	if every == 0 {
		every = (DefaultCheckpointInterval + n.slide - 1) / n.slide * n.slide
	}
	if c.check(op, every <= 0 || every%n.slide != 0, "checkpoint interval %v is not a positive multiple of the slide %v", every, n.slide) {
		return
	}
	n.truncateEvery = int(every / n.slide)
	c.checkpointed(n)
}

func initialOf[K comparable, S any](c *Context, op string, cfg opConfig) (Dataset[KV[K, S]], bool) {
	if cfg.initial == nil {
		return Dataset[KV[K, S]]{}, false
	}
	d, ok := cfg.initial.(Dataset[KV[K, S]])
	c.check(op, !ok, "initial state of type %T, want Dataset[%s]", cfg.initial, typeName[KV[K, S]]())
	return d, ok
}

// UpdateStateByKey keeps a state per key across batches. At every batch,
// update is called for every key that has state or new values — with no
// values when the key got none — and returns the key's new state, or
// keep == false to remove the key. The stream's dataset at t is the whole
// state after batch t. The operation needs Named.
func UpdateStateByKey[K comparable, V, S any](s *Stream[KV[K, V]], update func(key K, values []V, state S, exists bool) (S, bool), o ...OpOption) *Stream[KV[K, S]] {
	const op = "UpdateStateByKey"
	c := mustStream(op, s)
	c.check(op, update == nil, "nil function")
	cfg := opts(o)
	initial, hasInitial := initialOf[K, S](c, op, cfg)
	n := &node{kind: op, name: cfg.name, parents: []*node{s.n}, slide: s.n.slide, selfLookback: s.n.slide, persist: true}
	c.stateful(op, n, cfg)
	p := statePartitioner[K](c, op, cfg)
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		sc := n.scope(t)
		bd, _, err := s.n.at(t)
		if err != nil {
			return nil, err
		}
		batch := view[KV[K, V]](s.n, bd, sc)
		prev, ok, err := n.at(t.Add(-n.slide))
		if err != nil {
			return nil, err
		}
		var state Dataset[KV[K, S]]
		switch {
		case ok:
			state = view[KV[K, S]](n, prev, sc)
		case hasInitial:
			state = dataset.PartitionBy(initial.InScope(sc), p)
		default:
			state = dataset.EmptyPlaced[K, S](c.env, sc, p)
		}
		grouped := dataset.CoGroup(batch, state, dataset.WithPartitioner(p))
		typ := dataset.RecordType[KV[K, S]]()
		return dataset.MapKeyedPartitionsWith(grouped, func(tc lineage.TaskContext, part int, in []KV[K, Joined[[]V, []S]]) []KV[K, S] {
			out := make([]KV[K, S], 0, len(in))
			evicted := 0
			for _, kv := range in {
				var st S
				exists := len(kv.Value.Right) > 0
				if exists {
					st = kv.Value.Right[0]
				}
				ns, keep := update(kv.Key, kv.Value.Left, st, exists)
				switch {
				case keep:
					out = append(out, KV[K, S]{Key: kv.Key, Value: ns})
				case exists:
					evicted++
				}
			}
			recordState(tc, cfg.name, t, part, p.Partitions(), int64(len(out)), evicted, func() int64 { return blockstore.EstimateBytes(typ, out) })
			return out
		}).Lineage(), nil
	}
	n.view = newStateView(p, func(part []KV[K, S], each func(K, S) bool) {
		for _, kv := range part {
			if !each(kv.Key, kv.Value) {
				return
			}
		}
	})
	return newStream[KV[K, S]](c, n)
}

// State is the state of one key in a MapWithState function.
type State[S any] struct {
	value     S
	exists    bool
	updated   bool
	removed   bool
	timingOut bool
}

// Exists reports whether the key has state.
func (s *State[S]) Exists() bool { return s.exists }

// Get returns the key's state and whether it exists.
func (s *State[S]) Get() (S, bool) { return s.value, s.exists }

// Update sets the key's state. It panics when the key is timing out
// (its state is being removed) or was removed in this call.
func (s *State[S]) Update(v S) {
	if s.timingOut {
		panic("sluice: State.Update on a state that is timing out")
	}
	if s.removed {
		panic("sluice: State.Update after State.Remove")
	}
	s.value, s.exists, s.updated = v, true, true
}

// Remove deletes the key's state.
func (s *State[S]) Remove() {
	if s.timingOut {
		panic("sluice: State.Remove on a state that is timing out")
	}
	var zero S
	s.value, s.exists, s.removed, s.updated = zero, false, true, false
}

// IsTimingOut reports whether the call is the key's timeout: no value
// came, and the state is removed after the call.
func (s *State[S]) IsTimingOut() bool { return s.timingOut }

// String shows the state, or that there is none.
func (s *State[S]) String() string {
	if !s.exists {
		return "State(none)"
	}
	return fmt.Sprintf("State(%v)", s.value)
}
