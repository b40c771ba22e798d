package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/checkpoint"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Program records, in the job's metadata checkpoints, which program built
// the job and with which arguments, so that a tool can rebuild the same
// graph from the checkpoint alone: `sluice replay` rebuilds its built-in
// jobs by them (see ReadCheckpoint and Replay). A password in a URL
// argument ("postgres://user:secret@host/db", or "--flag=URL") is recorded
// as "xxxxx": checkpoints are no place for secrets.
func Program(name string, args ...string) Option {
	return func(c *config) error {
		c.program = name
		c.programArgs = make([]string, len(args))
		for i, a := range args {
			c.programArgs[i] = redactURL(a)
		}
		return nil
	}
}

// redactURL hides the password of a URL argument, alone or as the value
// of a --flag=URL.
func redactURL(arg string) string {
	prefix, value := "", arg
	if strings.HasPrefix(arg, "-") {
		if i := strings.IndexByte(arg, '='); i >= 0 {
			prefix, value = arg[:i+1], arg[i+1:]
		}
	}
	if !strings.Contains(value, "://") {
		return arg
	}
	u, err := url.Parse(value)
	if err != nil {
		return arg
	}
	if _, has := u.User.Password(); !has {
		return arg
	}
	return prefix + u.Redacted()
}

// ReplayResult is what a replayed batch produced.
type ReplayResult struct {
	// Batch is the batch's time; Number its number (the job's first batch
	// is 1).
	Batch  time.Time
	Number int64
	// Outputs are the records each output operation received at Batch, in
	// the graph's order. An output with no dataset at Batch (a windowed
	// stream whose slide does not fall on it) is left out.
	Outputs []ReplayOutput
	// Restored says, for each stateful operator, the batch of the state
	// checkpoint its state was read from. An operator missing here had no
	// state checkpoint yet: its state was recomputed from the job's first
	// batch.
	Restored map[string]time.Time
}

// Records returns the number of records of all outputs.
func (r *ReplayResult) Records() int {
	n := 0
	for _, o := range r.Outputs {
		n += len(o.Records)
	}
	return n
}

// ReplayOutput is what one output operation received in a replayed batch.
type ReplayOutput struct {
	// Name is the output's name (WriteTo's Named), or, for an unnamed
	// output, its kind and its position among the outputs of that kind:
	// "ForeachBatch#0", "Print#1".
	Name string
	// Kind is the output operation: Print, ForeachBatch,
	// ForeachPartition, SaveAsTextFiles or WriteTo.
	Kind string
	// Records are the records of the output's dataset at the batch, in
	// partition order: what Print would print (all of them, not only the
	// first n), ForeachBatch would get, or WriteTo would write.
	Records []any
}

// Strings formats the records as fmt's %v does (as Print and
// SaveAsTextFiles do).
func (o ReplayOutput) Strings() []string {
	out := make([]string, len(o.Records))
	for i, r := range o.Records {
		out[i] = fmt.Sprint(r)
	}
	return out
}

// Replay recomputes one batch of a job from the job's checkpoint at
// location (see Checkpoint), as the job computed it, and returns the
// records each of its outputs received: for debugging a production
// incident on one machine.
//
// build must build the job's graph, as the job's own program does. It is
// run on a new local context with opts, except that the batch interval
// and the parallelism are the job's (recorded in the checkpoint) and the
// checkpoint is only read. Replay reads the newest metadata checkpoint;
// restores each stateful operator from its newest committed state
// checkpoint at or before batch, and the inputs' recorded plans (their
// offsets); and computes the batches from there up to batch. An input whose
// plan of a needed batch is gone is planned again if its plan is a pure
// function of the batch (Generate), and is an error otherwise.
//
// Output operations are not performed: nothing is printed, no ForeachBatch
// or ForeachPartition function is called and no sink is written (a replay
// must not write into production), and the checkpoint is left unchanged.
//
// Replay fails with a clear error when batch is not one the checkpoint can
// recompute (CheckpointInfo.ReplayFrom to CheckpointInfo.Completed), when
// the graph does not match the checkpoint's (a stateful operator or an
// input added, removed or of another type), or when a state checkpoint or
// an input's plan it needs is missing.
func Replay(ctx context.Context, location string, batch time.Time, build func(c *Context), opts ...Option) (*ReplayResult, error) {
	st, err := checkpoint.Open(ctx, location)
	if err != nil {
		return nil, fmt.Errorf("sluice: replay: %w", err)
	}
	ro := readOnly{st}
	m, err := latestMetadata(ctx, ro, slog.Default())
	if err == nil && m == nil {
		err = fmt.Errorf("sluice: replay: no checkpoint in %s", st)
	}
	if err != nil {
		st.Close()
		return nil, err
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
	return c.replay(ctx, m, batch)
}

// replayConfig makes a Replay's context: local, with the job's batch
// interval and parallelism, reading (never writing) the job's checkpoint.
func replayConfig(m *metadata, ro readOnly) Option {
	return func(c *config) error {
		c.batch = m.Batch
		workers := goruntime.NumCPU()
		if m.Parallelism > 0 {
			c.parallelism = m.Parallelism
			workers = min(workers, m.Parallelism)
		}
		c.master = fmt.Sprintf("local[%d]", workers)
		c.checkpoint, c.store = "", ro
		c.http, c.workerKey, c.workerArgs = "", "", nil
		return nil
	}
}

// errReadOnly is what a replay's checkpoint store answers a write.
var errReadOnly = errors.New("sluice: replay: the checkpoint is read-only in a replay")

// readOnly is the checkpoint store as a replay sees it: a debugging replay
// must not change the job's checkpoint.
type readOnly struct{ checkpoint.Store }

func (readOnly) Put(context.Context, string, []byte) error { return errReadOnly }
func (readOnly) Delete(context.Context, ...string) error   { return errReadOnly }

// replaying reports whether c is a Replay's context.
func (c *Context) replaying() bool { return c.ck != nil && c.ck.replay }

// replay restores the state and plans batch t needs and computes the
// datasets of t's outputs.
func (c *Context) replay(ctx context.Context, m *metadata, t time.Time) (*ReplayResult, error) {
	if err := m.checkReplayable(t, c.ck.store); err != nil {
		return nil, err
	}
	if err := c.replayCompatible(m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.first = time.Unix(0, m.First)
	c.mu.Unlock()
	c.ck.mu.Lock()
	c.ck.epoch = m.Epoch
	// Every batch up to t is one "before the resume": an input missing a
	// plan of one is planned again or fails (see newInput).
	c.ck.resumeFrom = t.Add(m.Batch)
	c.ck.replay = true
	c.ck.mu.Unlock()
	res := &ReplayResult{Batch: t, Number: m.number(t), Restored: make(map[string]time.Time)}
	for _, n := range c.statefulNodes() {
		ct, ok := m.checkpointBefore(n.name, t.UnixNano())
		if !ok {
			continue
		}
		if err := c.restoreForReplay(ctx, n, ct); err != nil {
			return nil, err
		}
		res.Restored[n.name] = time.Unix(0, ct)
	}
	if err := c.restoreInputs(m); err != nil {
		return nil, fmt.Errorf("sluice: replay: %w", err)
	}
	outs, err := c.replayOutputs(ctx, t)
	if err != nil {
		return nil, err
	}
	res.Outputs = outs
	return res, nil
}

// number is batch t's number, from 1.
func (m *metadata) number(t time.Time) int64 {
	return (t.UnixNano()-m.First)/int64(m.Batch) + 1
}

// describe names batch t for messages: its number and its time.
func (m *metadata) describe(t int64) string {
	return fmt.Sprintf("%d (%d ms, %s)", (t-m.First)/int64(m.Batch)+1, t/1e6, time.Unix(0, t).UTC().Format(time.RFC3339Nano))
}

// replayFrom is the oldest batch a replay can compute: every stateful
// operator needs a state checkpoint at or before it (one that has none yet
// is recomputed from the first batch).
func (m *metadata) replayFrom() int64 {
	from := m.First
	for _, s := range m.State {
		if len(s.Checkpoints) > 0 {
			from = max(from, s.Checkpoints[0])
		}
	}
	return from
}

// checkpointBefore returns the newest state checkpoint of name at or
// before t.
func (m *metadata) checkpointBefore(name string, t int64) (int64, bool) {
	for _, s := range m.State {
		if s.Name != name {
			continue
		}
		for i := len(s.Checkpoints) - 1; i >= 0; i-- {
			if s.Checkpoints[i] <= t {
				return s.Checkpoints[i], true
			}
		}
	}
	return 0, false
}

// checkReplayable checks that t is a batch of the job within the range
// the checkpoint can replay.
func (m *metadata) checkReplayable(t time.Time, st checkpoint.Store) error {
	ns, from := t.UnixNano(), m.replayFrom()
	if (ns-m.First)%int64(m.Batch) != 0 {
		return fmt.Errorf("sluice: replay: %s is not a batch time of the job in %s (its batches are every %v from %s)",
			t.UTC().Format(time.RFC3339Nano), st, m.Batch, m.describe(m.First))
	}
	var why string
	switch {
	case ns < m.First:
		why = "it is before the job's first batch"
	case ns > m.Completed:
		why = "the job has not completed it"
	case ns < from:
		why = "the state checkpoints it would start from are deleted"
	default:
		return nil
	}
	return fmt.Errorf("sluice: replay: batch %s is not in the range the checkpoint in %s can replay, batches %s to %s: %s",
		m.describe(ns), st, m.describe(from), m.describe(m.Completed), why)
}

// replayCompatible checks that the graph is the one that wrote the
// checkpoint, as far as the checkpoint tells: the same stateful operators
// (by name, kind and type) and inputs (by kind, position and type).
func (c *Context) replayCompatible(m *metadata) error {
	rep := c.stateReport(m)
	var bad []string
	if len(rep.Incompatible) > 0 {
		bad = append(bad, "state changed type: "+strings.Join(rep.Incompatible, "; "))
	}
	if len(rep.New) > 0 {
		bad = append(bad, "stateful operators not in the checkpoint: "+strings.Join(rep.New, ", "))
	}
	if len(rep.Dropped) > 0 && !c.cfg.allowDropped {
		bad = append(bad, "stateful operators the job no longer has: "+strings.Join(rep.Dropped, ", ")+
			" (allow it with AllowDroppedState)")
	}
	inCkpt := make(map[string]string)
	for _, im := range m.Inputs {
		inCkpt[im.Key] = im.Type
	}
	keys := c.inputKeys()
	for _, in := range c.inputs {
		typ, ok := inCkpt[keys[in]]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("input %s is not in the checkpoint", keys[in]))
		case typ != in.typ:
			bad = append(bad, fmt.Sprintf("input %s is of type %s in the checkpoint, %s now", keys[in], typ, in.typ))
		}
		delete(inCkpt, keys[in])
	}
	for _, key := range slices.Sorted(maps.Keys(inCkpt)) {
		bad = append(bad, fmt.Sprintf("the checkpoint's input %s is not in the job", key))
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("sluice: replay: the job built is not the one that wrote the checkpoint in %s: %s",
		c.ck.store, strings.Join(bad, "; "))
}

// restoreForReplay restores n's state checkpoint at t, checking first that
// every partition of it is there (a replay should fail saying which
// checkpoint is damaged, not as a lost block halfway).
func (c *Context) restoreForReplay(ctx context.Context, n *node, t int64) error {
	sm, err := c.restoreCheckpoint(ctx, n, t)
	if err != nil {
		return fmt.Errorf("sluice: replay: state checkpoint missing or damaged: %w", err)
	}
	keys, err := c.ck.store.List(ctx, stateDir(n.name, t))
	if err != nil {
		return fmt.Errorf("sluice: replay: listing state %q at %d: %w", n.name, t/1e6, err)
	}
	var missing []int
	for p := range sm.Parts {
		if _, found := slices.BinarySearch(keys, statePartKey(n.name, t, p)); !found {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sluice: replay: state %q checkpoint at %d in %s lacks partitions %v of %d",
			n.name, t/1e6, c.ck.store, missing, sm.Parts)
	}
	return nil
}

// noPlan is the error of input n missing its plan of batch t in a replay.
func (c *Context) noPlan(n *node, t time.Time) error {
	key := c.inputKeys()[n]
	n.mu.Lock()
	var times []int64
	for pt := range n.plans {
		times = append(times, pt)
	}
	n.mu.Unlock()
	held := "none"
	if len(times) > 0 {
		held = fmt.Sprintf("batches %d ms to %d ms", slices.Min(times)/1e6, slices.Max(times)/1e6)
	}
	return fmt.Errorf("sluice: replay: input %s has no recorded plan of batch %d ms, which the replay needs "+
		"(the checkpoint holds its plans of %s), and cannot plan it again", key, t.UnixMilli(), held)
}

// replayOutputs computes the datasets of the outputs at t (failing before
// any work if one cannot be), then collects them.
func (c *Context) replayOutputs(ctx context.Context, t time.Time) ([]ReplayOutput, error) {
	var outs []ReplayOutput
	var ds []*lineage.Dataset
	seen := make(map[string]int)
	for _, out := range c.outputs {
		name := out.name
		if name == "" {
			name = fmt.Sprintf("%s#%d", out.kind, seen[out.kind])
			seen[out.kind]++
		}
		d, ok, err := out.parents[0].at(t)
		if err != nil {
			return nil, fmt.Errorf("sluice: replay: %s: %w", name, err)
		}
		if ok {
			outs = append(outs, ReplayOutput{Name: name, Kind: out.kind})
			ds = append(ds, d)
		}
	}
	for i, d := range ds {
		parts, err := c.env.RunJob(ctx, d, runtime.Action{Kind: runtime.ActCollect})
		if err != nil {
			return nil, fmt.Errorf("sluice: replay: %s: %w", outs[i].Name, err)
		}
		outs[i].Records = records(parts)
	}
	return outs, nil
}

// records flattens collected partitions (each a []T) into records.
func records(parts []any) []any {
	out := []any{}
	for _, p := range parts {
		v := reflect.ValueOf(p)
		if v.Kind() != reflect.Slice {
			continue
		}
		for i := range v.Len() {
			out = append(out, v.Index(i).Interface())
		}
	}
	return out
}
