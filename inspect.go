package sluice

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/ui"
)

// Figures a stateful operator records about every state partition it
// computes, for the UI (lineage.Figure keys "state/<name>/<figure>").
const (
	figKeys    = "keys"
	figBytes   = "bytes"
	figEvicted = "evicted"
)

// recordState reports a state partition's key count, estimated size and
// evictions through tc (nothing when tc does not take figures).
func recordState(tc lineage.TaskContext, name string, t time.Time, part, parts int, keys int64, evicted int, bytes func() int64) {
	if _, ok := tc.(lineage.Recorder); !ok {
		return
	}
	at := t.UnixNano()
	for _, f := range []struct {
		k string
		v int64
	}{{figKeys, keys}, {figBytes, bytes()}, {figEvicted, int64(evicted)}} {
		lineage.Record(tc, lineage.Figure{Key: "state/" + name + "/" + f.k, Time: at, Part: part, Parts: parts, Value: f.v})
	}
}

// lookupFunc reads a stateful operator's state at batch t (see
// Context.lookupState).
type lookupFunc func(ctx context.Context, ds *lineage.Dataset, t time.Time, q ui.Query) (ui.StateEntries, error)

// shownEntry is one key's state as the UI shows it (JSON texts).
type shownEntry struct {
	Key, Value string
}

// stateLookup returns the lookup of a stateful node whose datasets hold
// records of type R, each partition placed by p; entries walks a
// partition's keys and states until each returns false.
//
// A lookup runs as a job over datasets made on the driver after Start, so
// on a cluster its tasks run in the driver's process and read the state's
// cached blocks from the workers: a key is looked up in its partition
// only; a sample reads partitions in order until it has enough keys.
func stateLookup[K comparable, S, R any](c *Context, n *node, p Partitioner[K], entries func(part []R, each func(K, S) bool)) lookupFunc {
	return func(ctx context.Context, state *lineage.Dataset, t time.Time, q ui.Query) (ui.StateEntries, error) {
		res := ui.StateEntries{Operator: n.name, Batch: t, Entries: []ui.Entry{}}
		placed := state.Partitioning == lineage.Partitioning{Name: p.Name(), Parts: p.Partitions()}
		var parts []int
		var match func(K) bool
		if q.HasKey {
			k, err := parseKey[K](q.Key)
			if err != nil {
				return res, fmt.Errorf("%w: key %q: %v", ui.ErrBadQuery, q.Key, err)
			}
			match = func(x K) bool { return x == k }
			if placed {
				parts = []int{p.Partition(k)}
			}
		}
		if parts == nil {
			for i := range state.NumParts {
				parts = append(parts, i)
			}
		}
		want := q.Sample
		if q.HasKey {
			want = 1
		}
		for _, part := range parts {
			got, err := readStatePart(c, ctx, state, part, want-len(res.Entries), match, entries)
			if err != nil {
				return res, err
			}
			res.Partitions++
			res.Entries = append(res.Entries, got...)
			if len(res.Entries) >= want {
				break
			}
		}
		return res, nil
	}
}

// readStatePart returns up to max entries of partition part of state
// (those match accepts, if set), read by a one-partition job.
func readStatePart[K comparable, S, R any](c *Context, ctx context.Context, state *lineage.Dataset, part, max int,
	match func(K) bool, entries func([]R, func(K, S) bool)) ([]ui.Entry, error) {
	ld := c.static.New("stateLookup", dataset.RecordType[shownEntry](), 1, func(tc lineage.TaskContext, _ int) (any, error) {
		v, err := tc.Partition(state, part)
		if err != nil {
			return nil, err
		}
		var out []shownEntry
		recs, _ := v.([]R)
		entries(recs, func(k K, s S) bool {
			if match != nil && !match(k) {
				return true
			}
			out = append(out, shownEntry{Key: jsonText(k), Value: jsonText(s)})
			return len(out) < max
		})
		return out, nil
	}, lineage.Range{P: state, Offset: -part})
	got, err := dataset.Wrap[shownEntry](ld, c.env).Collect(ctx)
	c.reg.Remove(ld.ID)
	if err != nil {
		return nil, fmt.Errorf("sluice: reading partition %d of %s's state: %w", part, state, err)
	}
	out := make([]ui.Entry, len(got))
	for i, e := range got {
		out[i] = ui.Entry{Key: json.RawMessage(e.Key), Value: json.RawMessage(e.Value)}
	}
	return out, nil
}

// jsonText is v as JSON, or as a JSON string of its %v form when it has
// no JSON form.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("%v", v))
	}
	return string(b)
}

// parseKey reads a key typed in the UI or on the command line: a string
// key as is, numbers and booleans in Go syntax, any other type as JSON.
func parseKey[K any](s string) (K, error) {
	var k K
	var err error
	switch p := any(&k).(type) {
	case *string:
		*p = s
	case *int:
		*p, err = strconv.Atoi(s)
	case *int64:
		*p, err = strconv.ParseInt(s, 10, 64)
	case *int32:
		var v int64
		v, err = strconv.ParseInt(s, 10, 32)
		*p = int32(v)
	case *uint64:
		*p, err = strconv.ParseUint(s, 10, 64)
	case *uint32:
		var v uint64
		v, err = strconv.ParseUint(s, 10, 32)
		*p = uint32(v)
	case *float64:
		*p, err = strconv.ParseFloat(s, 64)
	case *bool:
		*p, err = strconv.ParseBool(s)
	default:
		err = json.Unmarshal([]byte(s), &k)
	}
	return k, err
}

// lookupState answers a state query of the UI: the state of a stateful
// operator as of the latest completed batch.
func (c *Context) lookupState(ctx context.Context, q ui.Query) (ui.StateEntries, error) {
	c.mu.Lock()
	n := c.names[q.Operator]
	c.mu.Unlock()
	if n == nil || n.lookup == nil {
		return ui.StateEntries{}, fmt.Errorf("%w: %q", ui.ErrUnknownOperator, q.Operator)
	}
	done := c.lastDone.Load()
	var ds *lineage.Dataset
	if done > 0 {
		ds = n.latest(time.Unix(0, done))
	}
	if ds == nil {
		return ui.StateEntries{}, fmt.Errorf("%w: %q has completed no batch", ui.ErrNoState, q.Operator)
	}
	if !q.HasKey && (q.Sample <= 0 || q.Sample > ui.MaxSample) {
		return ui.StateEntries{}, fmt.Errorf("%w: sample %d not in [1, %d]", ui.ErrBadQuery, q.Sample, ui.MaxSample)
	}
	return n.lookup(ctx, ds, time.Unix(0, ds.ID.Time), q)
}
