package sluice

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/checkpoint"
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

// stateView reads a stateful operator's partitions for people (the UI's
// lookups, `sluice state`): its closures know the operator's types.
type stateView struct {
	// keyPart parses key and returns its partition when the state is
	// placed as the operator places it now (placed false otherwise: every
	// partition must be read).
	keyPart func(key string, by lineage.Partitioning) (part int, placed bool, err error)
	// read returns up to max entries of a decoded partition: all, or
	// those of key when hasKey.
	read func(part any, key string, hasKey bool, max int) []ui.Entry
}

// newStateView returns the view of a stateful operator whose datasets
// hold records of type R, placed by p; entries walks a partition's keys
// and states until each returns false.
func newStateView[K comparable, S, R any](p Partitioner[K], entries func(part []R, each func(K, S) bool)) *stateView {
	return &stateView{
		keyPart: func(key string, by lineage.Partitioning) (int, bool, error) {
			k, err := parseKey[K](key)
			if err != nil {
				return 0, false, fmt.Errorf("%w: key %q: %v", ui.ErrBadQuery, key, err)
			}
			if by != (lineage.Partitioning{Name: p.Name(), Parts: p.Partitions()}) {
				return 0, false, nil
			}
			return p.Partition(k), true, nil
		},
		read: func(part any, key string, hasKey bool, max int) []ui.Entry {
			var match func(K) bool
			if hasKey {
				k, err := parseKey[K](key)
				if err != nil {
					return nil
				}
				match = func(x K) bool { return x == k }
			}
			out := []ui.Entry{}
			recs, _ := part.([]R)
			if max <= 0 {
				return out
			}
			entries(recs, func(k K, s S) bool {
				if match != nil && !match(k) {
					return true
				}
				out = append(out, ui.Entry{Key: json.RawMessage(jsonText(k)), Value: json.RawMessage(jsonText(s))})
				return len(out) < max
			})
			return out
		},
	}
}

// readEntries answers q from a state of parts partitions placed by by,
// reading partitions with read: the key's partition only when the
// placement allows, else partitions in order until it has enough entries.
func (v *stateView) readEntries(q ui.Query, parts int, by lineage.Partitioning, read func(part int, max int) ([]ui.Entry, error)) (ui.StateEntries, error) {
	res := ui.StateEntries{Operator: q.Operator, Entries: []ui.Entry{}}
	want := q.Sample
	var order []int
	if q.HasKey {
		want = 1
		p, placed, err := v.keyPart(q.Key, by)
		if err != nil {
			return res, err
		}
		if placed {
			order = []int{p}
		}
	}
	if order == nil {
		for i := range parts {
			order = append(order, i)
		}
	}
	for _, p := range order {
		got, err := read(p, want-len(res.Entries))
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

// shownEntry is one key's state as the UI shows it (JSON texts).
type shownEntry struct {
	Key, Value string
}

// readStatePart returns up to max entries of partition part of the state
// dataset state (those of q's key, if it has one), read by a
// one-partition job: made on the driver after Start, it runs in the
// driver's process on a cluster, reading the state's cached block from
// the worker that holds it.
func (c *Context) readStatePart(ctx context.Context, v *stateView, state *lineage.Dataset, part, max int, q ui.Query) ([]ui.Entry, error) {
	ld := c.static.New("stateLookup", dataset.RecordType[shownEntry](), 1, func(tc lineage.TaskContext, _ int) (any, error) {
		p, err := tc.Partition(state, part)
		if err != nil {
			return nil, err
		}
		var out []shownEntry
		for _, e := range v.read(p, q.Key, q.HasKey, max) {
			out = append(out, shownEntry{Key: string(e.Key), Value: string(e.Value)})
		}
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
	if n == nil || n.view == nil {
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
	res, err := n.view.readEntries(q, ds.NumParts, ds.Partitioning, func(part, max int) ([]ui.Entry, error) {
		return c.readStatePart(ctx, n.view, ds, part, max, q)
	})
	res.Batch = time.Unix(0, ds.ID.Time)
	return res, err
}

// StateQuery asks ReadState for one key's state (HasKey) or a sample of
// Sample keys (20 when 0).
type StateQuery struct {
	// Key is the key as text: a string key as is, numbers and booleans
	// in Go syntax, any other key type as JSON.
	Key    string
	HasKey bool
	Sample int
}

// StateSnapshot is a stateful operator's state as ReadState found it.
type StateSnapshot struct {
	Operator string `json:"operator"`
	Kind     string `json:"kind"`
	// Batch is the batch of the state checkpoint read.
	Batch time.Time `json:"batch"`
	// Partitions is the state's number of partitions, Read how many were
	// read to answer.
	Partitions int          `json:"partitions"`
	Read       int          `json:"read"`
	Entries    []StateEntry `json:"entries"`
}

// StateEntry is one key and its state, as JSON (a value without a JSON
// form is shown as a string of its %v form).
type StateEntry struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// ReadState reads the state of the stateful operator named operator from
// the latest state checkpoint at location, without running the job and
// without writing anything. build must build the job that wrote the
// checkpoint (the operator's types come from it). A running job's state
// is served by its driver instead: GET /api/state/NAME?key=K on the web
// UI's address.
func ReadState(ctx context.Context, location, operator string, build func(c *Context), q StateQuery, opts ...Option) (*StateSnapshot, error) {
	st, err := checkpoint.Open(ctx, location)
	if err != nil {
		return nil, fmt.Errorf("sluice: state: %w", err)
	}
	ro := readOnly{st}
	m, err := latestMetadata(ctx, ro, slog.Default())
	if err == nil && m == nil {
		err = fmt.Errorf("sluice: state: no checkpoint in %s", st)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	var meta *stateMeta
	var names []string
	for i, s := range m.State {
		names = append(names, s.Name)
		if s.Name == operator {
			meta = &m.State[i]
		}
	}
	if meta == nil || len(meta.Checkpoints) == 0 {
		st.Close()
		return nil, fmt.Errorf("sluice: state: %s has no state checkpoint of %q (operators with state: %s)", location, operator, strings.Join(names, ", "))
	}
	c, err := NewContext(append(slices.Clone(opts), replayConfig(m, ro))...)
	if err != nil {
		st.Close()
		return nil, err
	}
	defer c.Stop()
	build(c)
	if err := c.Err(); err != nil {
		return nil, err
	}
	return c.readCheckpointedState(ctx, ro, meta, q)
}

// readCheckpointedState answers q from meta's latest state checkpoint.
func (c *Context) readCheckpointedState(ctx context.Context, st checkpoint.Store, meta *stateMeta, q StateQuery) (*StateSnapshot, error) {
	c.mu.Lock()
	n := c.names[meta.Name]
	c.mu.Unlock()
	if n == nil || n.view == nil {
		return nil, fmt.Errorf("sluice: state: the job built has no stateful operator %q: not the job that wrote the checkpoint?", meta.Name)
	}
	if n.typ != meta.Type {
		return nil, fmt.Errorf("sluice: state: %q holds %s in the checkpoint but %s in the job built", meta.Name, meta.Type, n.typ)
	}
	t := meta.Checkpoints[len(meta.Checkpoints)-1]
	b, err := st.Get(ctx, stateManifestKey(n.name, t))
	if err != nil {
		return nil, fmt.Errorf("sluice: state %q checkpoint at %d: %w", n.name, t/1e6, err)
	}
	var sm stateManifest
	if err := json.Unmarshal(b, &sm); err != nil || sm.Parts < 0 || sm.Time != t {
		return nil, fmt.Errorf("sluice: state %q checkpoint at %d: bad manifest (%v)", n.name, t/1e6, err)
	}
	uq := ui.Query{Operator: n.name, Key: q.Key, HasKey: q.HasKey, Sample: cmp.Or(q.Sample, ui.DefaultSample)}
	res, err := n.view.readEntries(uq, sm.Parts, sm.Partitioning, func(part, max int) ([]ui.Entry, error) {
		b, err := st.Get(ctx, statePartKey(n.name, t, part))
		if err != nil {
			return nil, fmt.Errorf("sluice: state %q at %d partition %d: %w", n.name, t/1e6, part, err)
		}
		v, err := n.rtype.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("sluice: state %q at %d partition %d in %s: %w", n.name, t/1e6, part, st, err)
		}
		return n.view.read(v, q.Key, q.HasKey, max), nil
	})
	if err != nil {
		return nil, err
	}
	out := &StateSnapshot{Operator: n.name, Kind: n.kind, Batch: time.Unix(0, t), Partitions: sm.Parts, Read: res.Partitions, Entries: []StateEntry{}}
	for _, e := range res.Entries {
		out.Entries = append(out.Entries, StateEntry{Key: e.Key, Value: e.Value})
	}
	return out, nil
}

// Print writes the snapshot for a person: a header line, then one
// "key = value" line per entry.
func (s *StateSnapshot) Print(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s %q: state checkpoint of batch %s (%d ms), %d partitions, %d read, %d entries\n",
		s.Kind, s.Operator, s.Batch.UTC().Format(time.RFC3339Nano), s.Batch.UnixMilli(), s.Partitions, s.Read, len(s.Entries))
	for _, e := range s.Entries {
		fmt.Fprintf(bw, "%s = %s\n", e.Key, e.Value)
	}
	return bw.Flush()
}

// stateFlags parses the flags of a state command (`PROGRAM state`,
// `sluice state`) into its checkpoint location, operator and query.
func stateFlags(name string, args []string, stderr io.Writer) (loc, operator string, q StateQuery, asJSON bool, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&loc, "checkpoint", "", "the job's checkpoint: a directory or s3://bucket/prefix?endpoint=…")
	fs.StringVar(&operator, "operator", "", "the stateful operator's name (its sluice.Named)")
	key := fs.String("key", "", "read this key's state (a string key as is, numbers in decimal, other keys as JSON)")
	fs.IntVar(&q.Sample, "sample", 20, "without --key: how many keys to show")
	fs.BoolVar(&asJSON, "json", false, `print one JSON object: {"operator", "kind", "batch", "partitions", "read", "entries": [{"key", "value"}]}`)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s --checkpoint DIR --operator NAME [--key K | --sample N] [--json]\n\n"+
			"Reads a stateful operator's state from the latest state checkpoint of a job, without running it\n"+
			"and without writing anything (a running job's driver serves the same at /api/state/NAME).\n\nflags:\n", name)
		fs.PrintDefaults()
	}
	if err = fs.Parse(args); err != nil {
		return
	}
	fs.Visit(func(f *flag.Flag) { q.HasKey = q.HasKey || f.Name == "key" })
	q.Key = *key
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("sluice: %s: unexpected arguments %q", name, fs.Args())
	case loc == "" || operator == "":
		err = fmt.Errorf("sluice: %s needs --checkpoint and --operator", name)
	case q.Sample <= 0:
		err = fmt.Errorf("sluice: %s: --sample %d must be positive", name, q.Sample)
	}
	if err != nil {
		fs.Usage()
	}
	return
}

// StateMain is the state command: it parses args (see stateFlags), finds
// the job's build function with builder (given the checkpoint's
// description), reads the state with ReadState and prints it to stdout.
// Run calls it for `PROGRAM state …`; the sluice command for its built-in
// jobs.
func StateMain(ctx context.Context, name string, args []string, builder func(*CheckpointInfo) (func(*Context), error), stdout, stderr io.Writer) error {
	loc, operator, q, asJSON, err := stateFlags(name, args, stderr)
	if err != nil {
		return err
	}
	info, err := ReadCheckpoint(ctx, loc)
	if err != nil {
		return err
	}
	if info == nil {
		return fmt.Errorf("sluice: %s: no checkpoint in %s", name, loc)
	}
	build, err := builder(info)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	snap, err := ReadState(ctx, loc, operator, build, q, Logger(log))
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(snap)
	}
	return snap.Print(stdout)
}
