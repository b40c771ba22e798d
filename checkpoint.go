package sluice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/checkpoint"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/ui"
)

// Checkpoint makes the job write its checkpoints to location, and resume
// from them when it starts again: a directory ("/var/lib/job", a shared
// file system for a cluster) or an S3-compatible bucket
// ("s3://bucket/prefix?endpoint=…", credentials from the AWS_* environment
// variables). What is written:
//   - the state of every stateful operator (UpdateStateByKey, MapWithState,
//     incremental windows, event-time windows), asynchronously every
//     checkpoint interval (see CheckpointInterval), keyed by the
//     operator's name; the state's lineage is cut there;
//   - a metadata checkpoint after every batch: the last completed batch,
//     the inputs' plans (offsets) of the batches the state may still need,
//     and the latest state checkpoints.
//
// A context started over an existing checkpoint resumes after its last
// completed batch (see GetOrCreate): it reruns incomplete batches with the
// same input and state, so that outputs written to exactly-once sinks
// are those of a run without the restart.
func Checkpoint(location string) Option {
	return func(c *config) error {
		if location == "" {
			return errors.New("sluice: empty checkpoint location")
		}
		c.checkpoint = location
		return nil
	}
}

// AllowDroppedState lets a job resume from a checkpoint that holds the
// state of operators the job no longer has (removed or renamed): their
// state is dropped. Without it such a resume is refused.
func AllowDroppedState() Option { return func(c *config) error { c.allowDropped = true; return nil } }

// GetOrCreate makes a context that checkpoints to location and builds its
// graph with build. If location holds a checkpoint, the context resumes
// from it when started: the graph is rebuilt by build (code is never
// stored, only data), each stateful operator finds its state by name, and
// batches continue after the last completed one. Resume reports what
// was kept, dropped, new or incompatible.
func GetOrCreate(location string, build func(c *Context), opts ...Option) (*Context, error) {
	c, err := NewContext(append(opts, Checkpoint(location))...)
	if err != nil {
		return nil, err
	}
	build(c)
	if err := c.Err(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// ResumeReport says how a context resumed from a checkpoint: the state of
// each stateful operator of the checkpoint and of the job, by name.
type ResumeReport struct {
	// From is the first batch run after the resume; Completed the last
	// batch the checkpoint had completed.
	From, Completed time.Time
	// Kept operators resume their state; Dropped ones are in the
	// checkpoint only; New ones are in the job only and start empty;
	// Incompatible ones changed kind or type (a resume then fails).
	Kept, Dropped, New, Incompatible []string
}

func (r *ResumeReport) String() string {
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("resuming after batch %d ms: state kept: %s; dropped: %s; new: %s; incompatible: %s",
		r.Completed.UnixMilli(), list(r.Kept), list(r.Dropped), list(r.New), list(r.Incompatible))
}

// Resumed returns the report of the resume from a checkpoint, or nil if the
// context started afresh (or has not started).
func (c *Context) Resumed() *ResumeReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ck == nil {
		return nil
	}
	return c.ck.report
}

// metadataVersion is the format of metadata checkpoints. It changes when
// a reader of the previous version would misread a new file; optional
// fields that older files lack and older readers ignore (program, args,
// parallelism) keep it.
const metadataVersion = 1

// maxMetadataBytes bounds a metadata checkpoint (plans of queue and
// receiver inputs hold records).
const maxMetadataBytes = 256 << 20

// metadata is what a driver writes after every batch.
type metadata struct {
	Version int   `json:"version"`
	Epoch   int64 `json:"epoch"`
	// Batch is the batch interval; First the first batch's time and
	// Completed the last completed batch's (Unix ns).
	Batch     time.Duration `json:"batch_ns"`
	First     int64         `json:"first"`
	Completed int64         `json:"completed"`
	State     []stateMeta   `json:"state,omitempty"`
	Inputs    []inputMeta   `json:"inputs,omitempty"`
	// Program and Args name the program that built the job (see
	// Program), Parallelism the job's: what Replay and `sluice replay`
	// rebuild it with. Optional: older files lack them.
	Program     string   `json:"program,omitempty"`
	Args        []string `json:"args,omitempty"`
	Parallelism int      `json:"parallelism,omitempty"`
}

// stateMeta lists a stateful operator's committed checkpoints.
type stateMeta struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Type        string  `json:"type"`
	Checkpoints []int64 `json:"checkpoints"` // batch times, ascending
}

// inputMeta holds an input's plans of the batches that may be computed
// again, and its cursor (where it resumes reading).
type inputMeta struct {
	Key    string     `json:"key"` // kind#ordinal among the inputs of that kind
	Type   string     `json:"type"`
	Plans  []planMeta `json:"plans,omitempty"`
	Cursor []byte     `json:"cursor,omitempty"`
}

type planMeta struct {
	Time int64  `json:"t"`
	Plan []byte `json:"plan"`
}

// stateManifest commits one state checkpoint: written after all of its
// partitions, it is what makes them part of a checkpoint.
type stateManifest struct {
	Name         string               `json:"name"`
	Kind         string               `json:"kind"`
	Type         string               `json:"type"`
	Time         int64                `json:"t"`
	Parts        int                  `json:"parts"`
	Partitioning lineage.Partitioning `json:"partitioning"`
}

// decodeMetadata reads a metadata checkpoint, checking what a resume
// relies on.
func decodeMetadata(b []byte) (*metadata, error) {
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("metadata of %d bytes is over the %d-byte limit", len(b), maxMetadataBytes)
	}
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	switch {
	case m.Version != metadataVersion:
		return nil, fmt.Errorf("metadata version %d, this build reads %d", m.Version, metadataVersion)
	case m.Batch <= 0:
		return nil, fmt.Errorf("metadata: batch interval %v", m.Batch)
	case m.Completed < m.First || (m.Completed-m.First)%int64(m.Batch) != 0:
		return nil, fmt.Errorf("metadata: completed batch %d is not on the batch grid from %d", m.Completed, m.First)
	}
	for _, s := range m.State {
		if s.Name == "" || !sort.SliceIsSorted(s.Checkpoints, func(i, j int) bool { return s.Checkpoints[i] < s.Checkpoints[j] }) {
			return nil, fmt.Errorf("metadata: state %q: unnamed or unsorted checkpoints", s.Name)
		}
	}
	return &m, nil
}

// Keys in the store. Names are escaped to the store's key alphabet, and
// times are zero-padded so that keys sort by time.
func stateDir(name string, t int64) string {
	return fmt.Sprintf("state/%s/%020d/", escapeKey(name), t)
}
func statePartKey(name string, t int64, p int) string {
	return fmt.Sprintf("%spart-%05d", stateDir(name, t), p)
}
func stateManifestKey(name string, t int64) string { return stateDir(name, t) + "_manifest" }
func metadataKey(t int64) string                   { return fmt.Sprintf("metadata/%020d", t) }

// escapeKey keeps [A-Za-z0-9.-] and writes any other byte as _XX.
func escapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.' || ch == '-':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "_%02X", ch)
		}
	}
	return b.String()
}

// checkpoints is a context's side of the checkpoint store: on the driver
// it writes state and metadata checkpoints and resumes from them; in a
// worker process it writes and reads state partitions.
type checkpoints struct {
	store checkpoint.Store
	// wg counts the asynchronous state checkpoint writes in flight.
	wg sync.WaitGroup

	mu sync.Mutex
	// committed lists, per state name, the committed checkpoint times
	// still referenced (ascending).
	committed map[string][]int64
	// dropped are state names of the resumed checkpoint the job no longer
	// has: deleted once a metadata checkpoint without them is written.
	dropped   []string
	completed int64 // the last completed batch
	epoch     int64
	report    *ResumeReport
	// resumeFrom is the first batch after a resume (zero: not resumed).
	resumeFrom time.Time
	// garbage are keys to delete once the next metadata is written.
	garbage []string
	// replay marks a Replay's context: an input with no recorded plan of
	// a batch it needs is an error, unless it can plan it again.
	replay bool

	// metaMu orders the metadata writes, each of which snapshots the
	// inputs' plans once it holds it: the newest written has them all.
	// last is the latest written (nil: none yet).
	metaMu sync.Mutex
	last   *metadata
}

// openCheckpoints opens the configured store, if any.
func (c *Context) openCheckpoints() error {
	if c.cfg.store != nil {
		c.ck = &checkpoints{store: c.cfg.store, committed: make(map[string][]int64)}
		return nil
	}
	if c.cfg.checkpoint == "" {
		return nil
	}
	st, err := checkpoint.Open(context.Background(), c.cfg.checkpoint)
	if err != nil {
		return fmt.Errorf("sluice: checkpoint store: %w", err)
	}
	c.ck = &checkpoints{store: st, committed: make(map[string][]int64)}
	return nil
}

// epoch is this driver's incarnation: one more than the checkpoint's it
// resumed from, so that results of the previous driver's tasks are fenced.
func (c *Context) epoch() int64 {
	if c.ck == nil {
		return 0
	}
	c.ck.mu.Lock()
	defer c.ck.mu.Unlock()
	return c.ck.epoch
}

// resumedBefore reports whether the context resumed from a checkpoint at a
// batch after t.
func (c *Context) resumedBefore(t time.Time) bool {
	if c.ck == nil {
		return false
	}
	c.ck.mu.Lock()
	defer c.ck.mu.Unlock()
	return t.Before(c.ck.resumeFrom)
}

// stateful nodes are those whose state is checkpointed.
func (c *Context) statefulNodes() []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.truncateEvery > 0 {
			out = append(out, n)
		}
	}
	return out
}

// checkpointed makes n's state checkpointable: its partitions are written
// by an output-like task on the workers (found by n's ID).
func (c *Context) checkpointed(n *node) {
	n.partition = func(ctx context.Context, t int64, p, _ int, part any) error {
		if c.ck == nil {
			return errors.New("sluice: no checkpoint store configured")
		}
		b := n.rtype.Encode(nil, part)
		if c.wk != nil && c.wk.w != nil { // in a worker process: a testing aid may kill it here
			c.wk.w.FailurePoint(cluster.PointCheckpoint)
		}
		return c.ck.store.Put(ctx, statePartKey(n.name, t, p), b)
	}
}

// readStored is the compute function of a state dataset whose lineage a
// committed checkpoint cut: it reads the partition from the store.
func (c *Context) readStored(n *node, t int64) lineage.ComputeFunc {
	return func(tc lineage.TaskContext, p int) (any, error) {
		b, err := c.ck.store.Get(tc.Context(), statePartKey(n.name, t, p))
		if err != nil {
			return nil, fmt.Errorf("%w: state %q at %d partition %d: %v", runtime.ErrBlockLost, n.name, t, p, err)
		}
		v, err := n.rtype.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("sluice: state %q at %d partition %d in %s: %w", n.name, t, p, c.ck.store, err)
		}
		return v, nil
	}
}

// startStateCheckpoint writes n's dataset d of batch t to the store in the
// background: its partitions from the workers that hold them, then the
// manifest that commits them; then it cuts d's lineage. A failed write is
// logged and leaves the lineage whole (the next checkpoint tries again).
func (c *Context) startStateCheckpoint(n *node, d *lineage.Dataset, t int64) {
	c.ck.wg.Add(1)
	go func() {
		defer c.ck.wg.Done()
		if err := c.writeState(context.Background(), n, d, t); err != nil {
			c.cfg.logger.Warn("sluice: state checkpoint failed", "op", n.kind, "name", n.name, "batch", t/1e6, "err", err)
			c.uiEvent(ui.EventCheckpoint, time.Unix(0, t), "state checkpoint of %q failed: %v", n.name, err)
		}
	}()
}

func (c *Context) writeState(ctx context.Context, n *node, d *lineage.Dataset, t int64) error {
	start := time.Now()
	if _, err := c.env.RunJob(ctx, d, runtime.Action{Kind: runtime.ActOutput, Node: n.id}); err != nil {
		return err
	}
	m := stateManifest{Name: n.name, Kind: n.kind, Type: n.typ, Time: t, Parts: d.NumParts, Partitioning: d.Partitioning}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := c.ck.store.Put(ctx, stateManifestKey(n.name, t), b); err != nil {
		return err
	}
	d.Truncate(c.readStored(n, t))
	c.ck.mu.Lock()
	c.ck.committed[n.name] = insertSorted(c.ck.committed[n.name], t)
	c.ck.mu.Unlock()
	n.setCut(t, d)
	c.cfg.logger.Debug("sluice: state checkpoint", "op", n.kind, "name", n.name, "batch", t/1e6, "parts", d.NumParts, "took_ms", ms(time.Since(start)))
	c.uiEvent(ui.EventCheckpoint, time.Unix(0, t), "state of %q checkpointed (%d partitions) in %v", n.name, d.NumParts, time.Since(start).Round(time.Millisecond))
	return nil
}

func insertSorted(xs []int64, x int64) []int64 {
	i := sort.Search(len(xs), func(i int) bool { return xs[i] >= x })
	if i < len(xs) && xs[i] == x {
		return xs
	}
	return append(xs[:i], append([]int64{x}, xs[i:]...)...)
}

// writeMetadata writes the metadata checkpoint after batch t, then deletes
// what no checkpoint references any more.
func (c *Context) writeMetadata(ctx context.Context, t time.Time) error {
	c.ck.metaMu.Lock()
	defer c.ck.metaMu.Unlock()
	m := metadata{Version: metadataVersion, Batch: c.cfg.batch, First: c.first.UnixNano(), Completed: t.UnixNano(),
		Program: c.cfg.program, Args: c.cfg.programArgs, Parallelism: c.cfg.parallelism}
	c.ck.mu.Lock()
	m.Epoch = c.ck.epoch
	c.ck.completed = t.UnixNano()
	garbage := c.ck.garbage
	c.ck.garbage = nil
	for _, n := range c.statefulNodes() {
		keep := c.ck.retain(n, t)
		for _, old := range c.ck.committed[n.name][:len(c.ck.committed[n.name])-len(keep)] {
			garbage = append(garbage, stateDir(n.name, old))
		}
		c.ck.committed[n.name] = keep
		// Listed even before its first checkpoint: a resume then
		// recomputes it from the first batch, not from nothing.
		m.State = append(m.State, stateMeta{Name: n.name, Kind: n.kind, Type: n.typ, Checkpoints: append([]int64{}, keep...)})
	}
	for _, name := range c.ck.dropped {
		garbage = append(garbage, "state/"+escapeKey(name)+"/")
	}
	c.ck.dropped = nil
	c.ck.mu.Unlock()
	m.Inputs = c.inputMetas()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := c.ck.store.Put(ctx, metadataKey(t.UnixNano()), b); err != nil {
		return fmt.Errorf("sluice: metadata checkpoint after batch %d: %w", t.UnixMilli(), err)
	}
	c.ck.last = &m
	return c.collect(ctx, t.UnixNano(), garbage)
}

// recordPlans writes the latest metadata checkpoint again with batch t's
// plans, just planned, before its jobs run. Without it a driver lost while
// the batch runs would plan it again from its inputs: an input that is not
// a pure function of time (Kafka, NATS, files) could then give the batch
// other records than those the outputs it committed before the loss
// wrote. Nothing is written before the first batch completes, nor when
// every input plans each batch again the same (Generate).
func (c *Context) recordPlans(ctx context.Context, t time.Time) {
	if c.ck.replay || !slices.ContainsFunc(c.inputs, func(n *node) bool { return !n.replay }) {
		return
	}
	c.ck.metaMu.Lock()
	defer c.ck.metaMu.Unlock()
	if c.ck.last == nil {
		return
	}
	m := *c.ck.last
	c.ck.mu.Lock()
	m.Epoch = c.ck.epoch
	c.ck.mu.Unlock()
	m.Inputs = c.inputMetas()
	b, err := json.Marshal(m)
	if err == nil {
		err = c.ck.store.Put(ctx, metadataKey(m.Completed), b)
	}
	if err != nil {
		// The job goes on: were the driver lost during the batch, it
		// would be planned again (as before this write).
		c.cfg.logger.Warn("sluice: recording the plans of a batch failed", "batch", t.UnixMilli(), "err", err)
	}
}

// retain returns n's committed checkpoints a resume may still need: the
// newest, and older ones that batches within n's remember window read.
func (ck *checkpoints) retain(n *node, t time.Time) []int64 {
	all := ck.committed[n.name]
	horizon := t.Add(-n.remember).UnixNano()
	i := len(all) - 1
	for i > 0 && all[i] > horizon {
		i--
	}
	return all[max(i, 0):]
}

// metadataKept is how many metadata checkpoints stay in the store (the
// newest is read; older ones are a fallback if it cannot be).
const metadataKept = 3

// collect deletes old metadata checkpoints and the given state prefixes.
func (c *Context) collect(ctx context.Context, t int64, prefixes []string) error {
	keys, err := c.ck.store.List(ctx, "metadata/")
	if err != nil {
		return err
	}
	var del []string
	if len(keys) > metadataKept {
		del = append(del, keys[:len(keys)-metadataKept]...)
	}
	for _, p := range prefixes {
		ks, err := c.ck.store.List(ctx, p)
		if err != nil {
			return err
		}
		del = append(del, ks...)
	}
	if len(del) == 0 {
		return nil
	}
	return c.ck.store.Delete(ctx, del...)
}

// inputKeys names the inputs for metadata: kind and ordinal among the
// inputs of that kind.
func (c *Context) inputKeys() map[*node]string {
	keys := make(map[*node]string, len(c.inputs))
	seen := make(map[string]int)
	for _, in := range c.inputs {
		keys[in] = fmt.Sprintf("%s#%d", in.kind, seen[in.kind])
		seen[in.kind]++
	}
	return keys
}

// inputMetas snapshots the inputs' plans and cursors, under genMu so that
// no batch is being planned meanwhile.
func (c *Context) inputMetas() []inputMeta {
	c.genMu.Lock()
	defer c.genMu.Unlock()
	keys := c.inputKeys()
	var out []inputMeta
	for _, in := range c.inputs {
		im := inputMeta{Key: keys[in], Type: in.typ}
		in.mu.Lock()
		for t, b := range in.plans {
			im.Plans = append(im.Plans, planMeta{Time: t, Plan: b})
		}
		in.mu.Unlock()
		sort.Slice(im.Plans, func(i, j int) bool { return im.Plans[i].Time < im.Plans[j].Time })
		if in.cursor != nil {
			im.Cursor = in.cursor()
		}
		out = append(out, im)
	}
	return out
}

// latestMetadata reads the newest readable metadata checkpoint, or nil if
// there is none.
func (c *Context) latestMetadata(ctx context.Context) (*metadata, error) {
	return latestMetadata(ctx, c.ck.store, c.cfg.logger)
}

func latestMetadata(ctx context.Context, st checkpoint.Store, log *slog.Logger) (*metadata, error) {
	keys, err := st.List(ctx, "metadata/")
	if err != nil {
		return nil, fmt.Errorf("sluice: listing checkpoints in %s: %w", st, err)
	}
	var errs []error
	for i := len(keys) - 1; i >= 0; i-- {
		b, err := st.Get(ctx, keys[i])
		if err == nil {
			var m *metadata
			if m, err = decodeMetadata(b); err == nil {
				return m, nil
			}
		}
		// A newer checkpoint that cannot be read falls back to an older
		// one (they are written whole, so this is damage, not a crash).
		log.Warn("sluice: unreadable metadata checkpoint", "key", keys[i], "store", st.String(), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", keys[i], err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sluice: no readable metadata checkpoint in %s: %w", st, errors.Join(errs...))
	}
	return nil, nil
}

// CheckpointInfo describes the latest metadata checkpoint of a job.
type CheckpointInfo struct {
	Batch time.Duration
	// First is the job's first batch; Completed the last one it finished.
	First, Completed time.Time
	// Epoch counts the drivers that ran the job, from 0.
	Epoch int64
	// State lists each stateful operator's committed state checkpoints.
	State map[string][]time.Time
	// Program and Args are the program and arguments the job recorded
	// (see Program; empty if it did not), Parallelism its parallelism (0
	// in checkpoints written before it was recorded).
	Program     string
	Args        []string
	Parallelism int
	// ReplayFrom is the oldest batch Replay can recompute from the
	// retained state checkpoints; Completed is the newest.
	ReplayFrom time.Time
}

// ReadCheckpoint reads the latest metadata checkpoint at location (see
// Checkpoint); it returns nil, nil if there is none.
func ReadCheckpoint(ctx context.Context, location string) (*CheckpointInfo, error) {
	st, err := checkpoint.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	m, err := latestMetadata(ctx, st, slog.Default())
	if err != nil || m == nil {
		return nil, err
	}
	info := &CheckpointInfo{Batch: m.Batch, First: time.Unix(0, m.First), Completed: time.Unix(0, m.Completed),
		Epoch: m.Epoch, State: make(map[string][]time.Time), Program: m.Program, Args: m.Args,
		Parallelism: m.Parallelism, ReplayFrom: time.Unix(0, m.replayFrom())}
	for _, s := range m.State {
		ts := []time.Time{}
		for _, t := range s.Checkpoints {
			ts = append(ts, time.Unix(0, t))
		}
		info.State[s.Name] = ts
	}
	return info, nil
}

// resume restores the graph's state and inputs from the latest metadata
// checkpoint, if there is one (driver side, before the first batch).
func (c *Context) resume(ctx context.Context) error {
	m, err := c.latestMetadata(ctx)
	if err != nil || m == nil {
		return err
	}
	if m.Batch != c.cfg.batch {
		return fmt.Errorf("sluice: the checkpoint in %s was written with batch interval %v; this job has %v", c.ck.store, m.Batch, c.cfg.batch)
	}
	rep, err := c.compatibility(m)
	if err != nil {
		return err
	}
	c.first = time.Unix(0, m.First)
	from := time.Unix(0, m.Completed).Add(c.cfg.batch)
	rep.From, rep.Completed = from, time.Unix(0, m.Completed)
	c.ck.mu.Lock()
	c.ck.epoch = m.Epoch + 1
	c.ck.completed = m.Completed
	c.ck.last = m // recordPlans adds the plans of the next batches to it
	c.ck.resumeFrom = from
	c.ck.report = rep
	c.ck.dropped = rep.Dropped
	c.ck.mu.Unlock()
	if err := c.restoreState(ctx, m, rep); err != nil {
		return err
	}
	if err := c.restoreInputs(m); err != nil {
		return err
	}
	c.cfg.logger.Info("sluice: "+rep.String(), "store", c.ck.store.String())
	return nil
}

// compatibility compares the checkpoint's state with the graph's, by name,
// and refuses a resume that would change a state's type or drop one
// unless allowed.
func (c *Context) compatibility(m *metadata) (*ResumeReport, error) {
	rep := c.stateReport(m)
	switch {
	case len(rep.Incompatible) > 0:
		return nil, fmt.Errorf("sluice: cannot resume from %s: state changed type: %s (give the changed operator a new name to start it afresh)",
			c.ck.store, strings.Join(rep.Incompatible, "; "))
	case len(rep.Dropped) > 0 && !c.cfg.allowDropped:
		return nil, fmt.Errorf("sluice: resuming from %s would drop the state of %s, which the job no longer has; "+
			"rename the operator back, or allow it with --allow-dropped-state (AllowDroppedState)", c.ck.store, strings.Join(rep.Dropped, ", "))
	}
	return rep, nil
}

// stateReport sorts the stateful operators of the checkpoint and of the
// graph into kept, dropped, new and incompatible, by name.
func (c *Context) stateReport(m *metadata) *ResumeReport {
	rep := &ResumeReport{}
	inCkpt := make(map[string]stateMeta)
	for _, s := range m.State {
		inCkpt[s.Name] = s
	}
	inGraph := make(map[string]bool)
	for _, n := range c.statefulNodes() {
		inGraph[n.name] = true
		s, ok := inCkpt[n.name]
		switch {
		case !ok:
			rep.New = append(rep.New, n.name)
		case s.Kind != n.kind || s.Type != n.typ:
			rep.Incompatible = append(rep.Incompatible, fmt.Sprintf("%s (%s of %s in the checkpoint, %s of %s now)", n.name, s.Kind, s.Type, n.kind, n.typ))
		default:
			rep.Kept = append(rep.Kept, n.name)
		}
	}
	for _, s := range m.State {
		if !inGraph[s.Name] {
			rep.Dropped = append(rep.Dropped, s.Name)
		}
	}
	return rep
}

// restoreState makes each kept operator's checkpointed datasets, read from
// the store, and starts new operators at the resume.
func (c *Context) restoreState(ctx context.Context, m *metadata, rep *ResumeReport) error {
	byName := make(map[string]stateMeta)
	for _, s := range m.State {
		byName[s.Name] = s
	}
	for _, n := range c.statefulNodes() {
		s, ok := byName[n.name]
		if !ok {
			n.startAt = rep.From
			continue
		}
		for _, t := range s.Checkpoints {
			if _, err := c.restoreCheckpoint(ctx, n, t); err != nil {
				return err
			}
		}
		c.ck.committed[n.name] = append([]int64(nil), s.Checkpoints...)
	}
	return nil
}

// restoreCheckpoint makes n's dataset at t, read from its committed state
// checkpoint, and returns the checkpoint's manifest.
func (c *Context) restoreCheckpoint(ctx context.Context, n *node, t int64) (*stateManifest, error) {
	b, err := c.ck.store.Get(ctx, stateManifestKey(n.name, t))
	if err != nil {
		return nil, fmt.Errorf("sluice: state %q checkpoint at %d: %w", n.name, t/1e6, err)
	}
	var sm stateManifest
	if err := json.Unmarshal(b, &sm); err != nil || sm.Parts < 0 || sm.Time != t {
		return nil, fmt.Errorf("sluice: state %q checkpoint at %d: bad manifest (%v)", n.name, t/1e6, err)
	}
	d := n.scope(time.Unix(0, t)).New(n.kind, n.rtype, sm.Parts, c.readStored(n, t))
	d.Partitioning = sm.Partitioning
	d.Persist()
	d.Truncate(c.readStored(n, t))
	n.mu.Lock()
	n.gen[t] = d
	n.mu.Unlock()
	n.setCut(t, d)
	return &sm, nil
}

// restoreInputs gives each input its recorded plans and cursor.
func (c *Context) restoreInputs(m *metadata) error {
	byKey := make(map[string]inputMeta)
	for _, im := range m.Inputs {
		byKey[im.Key] = im
	}
	for in, key := range c.inputKeys() {
		im, ok := byKey[key]
		if !ok || im.Type != in.typ {
			continue // a new input (or a changed one) starts at the resume
		}
		for _, p := range im.Plans {
			if err := in.restorePlan(p.Time, p.Plan); err != nil {
				return fmt.Errorf("sluice: input %s's plan of batch %d: %w", key, p.Time/1e6, err)
			}
		}
		if in.restoreCursor != nil && im.Cursor != nil {
			if err := in.restoreCursor(im.Cursor); err != nil {
				return fmt.Errorf("sluice: input %s's position: %w", key, err)
			}
		}
	}
	return nil
}

// finalCheckpoint, at a graceful stop, waits for the checkpoints in
// flight, checkpoints every state at the last completed batch, and writes
// the metadata: the next start repeats no batch and recomputes nothing.
func (c *Context) finalCheckpoint(ctx context.Context) error {
	c.ck.wg.Wait()
	c.ck.mu.Lock()
	last := c.ck.completed
	c.ck.mu.Unlock()
	if last == 0 {
		return nil
	}
	t := time.Unix(0, last)
	for _, n := range c.statefulNodes() {
		d, ok, err := n.at(t)
		if err != nil || !ok || d.Truncated() {
			continue
		}
		if err := c.writeState(ctx, n, d, last); err != nil {
			return fmt.Errorf("sluice: final checkpoint of %q: %w", n.name, err)
		}
	}
	return c.writeMetadata(ctx, t)
}
