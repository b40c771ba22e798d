package sluice_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// replayJob is a stateful job (running totals, an incremental window,
// MapWithState, a windowed count) whose every output is recorded per
// batch, in order: by ForeachBatch on the driver, by a sink (WriteTo) and
// by Print.
type replayJob struct {
	mu  sync.Mutex
	out map[string]map[int64][]string // output → batch ms → records
	// sink records what WriteTo wrote; queue, if set, is the input
	// instead of the generator (a replay builds the job with an empty
	// one: the records come from the checkpoint's plans).
	sink  *recordingSink
	queue *sluice.Queue[int]
	// variant builds a changed job: "added" (one more stateful
	// operator) or "retyped" (totals of another type).
	variant string
}

// replayOutputs are the names of the ForeachBatch outputs, in build
// order: a replay names them ForeachBatch#0, #1, ….
var replayOutputs = []string{"totals", "window", "count", "seen"}

func (j *replayJob) record(name string, t time.Time, recs []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.out == nil {
		j.out = make(map[string]map[int64][]string)
	}
	if j.out[name] == nil {
		j.out[name] = make(map[int64][]string)
	}
	j.out[name][t.UnixMilli()] = recs
}

func (j *replayJob) build(c *sluice.Context) {
	var nums *sluice.Stream[int]
	if j.queue != nil {
		nums = sluice.QueueStream(c, j.queue, 0)
	} else {
		nums = sluice.Generate(c, sluice.GeneratorFunc[int](func(from, to int64, _, _ time.Time) []int {
			out := make([]int, 0, to-from)
			for i := from; i < to; i++ {
				out = append(out, int(i*7919%101))
			}
			return out
		}), 40)
	}
	pairs := sluice.Map(nums, func(x int) sluice.KV[int, int] { return sluice.Pair(x%7, x) })
	every := sluice.CheckpointInterval(6 * time.Second)
	var totals *sluice.Stream[sluice.KV[int, int]]
	if j.variant == "retyped" {
		totals = sluice.Map(sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s int64, _ bool) (int64, bool) {
			return s + int64(len(vs)), true
		}, sluice.Named("totals"), every), func(kv sluice.KV[int, int64]) sluice.KV[int, int] { return sluice.Pair(kv.Key, int(kv.Value)) })
	} else {
		totals = sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s int, _ bool) (int, bool) {
			for _, v := range vs {
				s += v
			}
			return s, true
		}, sluice.Named("totals"), every)
	}
	collectAs(j.record, totals, "totals")
	window := sluice.ReduceByKeyAndWindow(pairs, func(a, b int) int { return a + b }, func(a, b int) int { return a - b },
		4*time.Second, 2*time.Second, sluice.Named("window"), every)
	collectAs(j.record, window, "window")
	collectAs(j.record, sluice.CountByWindow(nums, 3*time.Second, time.Second), "count")
	seen, _ := sluice.MapWithState(pairs, func(_ time.Time, k int, v sluice.Optional[int], st *sluice.State[int]) (sluice.KV[int, int], bool) {
		n, _ := st.Get()
		st.Update(n + 1)
		return sluice.Pair(k, n), true
	}, sluice.Named("seen"), every)
	collectAs(j.record, seen, "seen")
	if j.variant == "added" {
		collectAs(j.record, sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s int, _ bool) (int, bool) {
			return s + len(vs), true
		}, sluice.Named("added")), "added")
	}
	sluice.WriteTo(totals, sluice.Sink[sluice.KV[int, int]](j.sink), sluice.Named("totals-out"))
	sluice.Print(window, 3)
}

// recordingSink records every partition written, by key.
type recordingSink struct {
	mu     sync.Mutex
	writes map[sluice.OutputKey][]string
	count  int
}

func (s *recordingSink) Write(_ context.Context, key sluice.OutputKey, recs []sluice.KV[int, int]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes == nil {
		s.writes = make(map[sluice.OutputKey][]string)
	}
	strs := []string{}
	for _, r := range recs {
		strs = append(strs, fmt.Sprint(r))
	}
	s.writes[key] = strs
	s.count++
	return nil
}

// batch returns what the sink wrote at t, in partition order.
func (s *recordingSink) batch(t time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []sluice.OutputKey
	for k := range s.writes {
		if k.Batch.Equal(t) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b sluice.OutputKey) int { return a.Partition - b.Partition })
	out := []string{}
	for _, k := range keys {
		out = append(out, s.writes[k]...)
	}
	return out
}

func (s *recordingSink) writesSoFar() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// runReplayJob runs j with a checkpoint in dir until batch `until`, then
// kills its driver (no final checkpoint): the state checkpoints are the
// periodic ones. It waits for those of batch 12 to be committed before it
// runs batch 13, so that the metadata of the batches after it lists them
// (they are written in the background).
func runReplayJob(t *testing.T, dir string, j *replayJob, until int, opts ...sluice.Option) {
	t.Helper()
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	infos := make(chan sluice.BatchInfo, 1024)
	// 3 partitions: not the replay's default (the machine's cores), so
	// that a replay must use the job's.
	all := append([]sluice.Option{sluice.Master("local[3]"), sluice.Batch(time.Second), sluice.WithClock(clock),
		sluice.Output(io.Discard), sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b })}, opts...)
	c, err := sluice.GetOrCreate(dir, j.build, all...)
	if err != nil {
		t.Fatal(err)
	}
	defer sluice.Crash(c)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= until; k++ {
		clock.Set(batchAt(k))
		select {
		case b := <-infos:
			if b.Err != nil || !b.Time.Equal(batchAt(k)) {
				t.Fatalf("batch %v: %v, want batch %d", b.Time, b.Err, k)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("batch %d did not complete in 30s", k)
		}
		if k != 12 {
			continue
		}
		for _, name := range []string{"totals", "window", "seen"} {
			manifest := fmt.Sprintf("state/%s/%020d/_manifest", name, batchAt(12).UnixNano())
			for deadline := time.Now().Add(30 * time.Second); len(sluice.StoreKeys(dir, manifest)) == 0; {
				if time.Now().After(deadline) {
					t.Fatalf("no state checkpoint of %s at batch 12 after 30s", name)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
}

// batchAt is batch k's time (the first batch is 1).
func batchAt(k int) time.Time { return sluicetest.Epoch.Add(time.Duration(k) * time.Second) }

// snapshot hashes every file under dir.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := make(map[string][32]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplayEqualsTheRun runs a stateful job with checkpoints, kills its
// driver, and replays batches from its checkpoint: one right after a
// state checkpoint, one several batches after it, and the last. Every
// output of each equals the run's, record for record and in order, and
// the replay writes nothing: no sink, no Print, no checkpoint file.
func TestReplayEqualsTheRun(t *testing.T) {
	dir := t.TempDir()
	j := &replayJob{sink: &recordingSink{}}
	var printed bytes.Buffer
	runReplayJob(t, dir, j, 17, sluice.Output(&printed))
	info, err := sluice.ReadCheckpoint(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// State checkpoints every 6 batches: at 6 and 12; the metadata of
	// batch 17 keeps the one at 12 (at least).
	if !info.Completed.Equal(batchAt(17)) || info.Parallelism != 3 {
		t.Fatalf("checkpoint: completed %v, parallelism %d; want batch 17 and 3", info.Completed, info.Parallelism)
	}
	from := int(info.ReplayFrom.Sub(sluicetest.Epoch) / time.Second)
	if from != 6 && from != 12 {
		t.Fatalf("replayable from batch %d, want 6 or 12 (state checkpoints: %v)", from, info.State)
	}
	before := snapshot(t, dir)
	writes, printedLen := j.sink.writesSoFar(), printed.Len()
	var replayPrinted bytes.Buffer
	for _, k := range []int{13, 16, 17, 12} {
		t.Run(fmt.Sprint("batch-", k), func(t *testing.T) {
			bt := batchAt(k)
			res, err := sluice.Replay(context.Background(), dir, bt, (&replayJob{sink: j.sink}).build, sluice.Output(&replayPrinted))
			if err != nil {
				t.Fatal(err)
			}
			if res.Number != int64(k) || !res.Batch.Equal(bt) {
				t.Errorf("replayed batch %d at %v, want %d", res.Number, res.Batch, k)
			}
			for _, name := range []string{"totals", "window", "seen"} {
				if got := res.Restored[name]; !got.Equal(batchAt(12)) {
					t.Errorf("%s restored from %v, want the checkpoint of batch 12", name, got)
				}
			}
			got := make(map[string][]string)
			for _, o := range res.Outputs {
				got[o.Name] = o.Strings()
			}
			want := map[string][]string{"totals-out": j.sink.batch(bt)}
			for i, name := range replayOutputs {
				if recs, ok := j.out[name][bt.UnixMilli()]; ok {
					want[fmt.Sprintf("ForeachBatch#%d", i)] = recs
				}
			}
			if recs, ok := j.out["window"][bt.UnixMilli()]; ok {
				want["Print#0"] = recs // all of them, not the 3 Print shows
			}
			if len(got) != len(want) {
				t.Errorf("outputs %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			n := 0
			for name, w := range want {
				n += len(w)
				if g, ok := got[name]; !ok || !slices.Equal(g, w) {
					t.Errorf("%s: replayed %v, the run had %v", name, g, w)
				}
			}
			if res.Records() != n || n == 0 {
				t.Errorf("%d records, want %d (> 0)", res.Records(), n)
			}
		})
	}
	if w := j.sink.writesSoFar(); w != writes {
		t.Errorf("the replays wrote %d partitions to the sink", w-writes)
	}
	if printed.Len() != printedLen || replayPrinted.Len() != 0 {
		t.Errorf("the replays printed: %q", replayPrinted.String())
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Errorf("the replays changed the checkpoint: %d files before, %d after", len(before), len(after))
	}
}

// replayed runs Replay with a fresh job's graph and returns the outputs
// by name.
func replayed(t *testing.T, dir string, bt time.Time, j *replayJob) (map[string][]string, error) {
	t.Helper()
	res, err := sluice.Replay(context.Background(), dir, bt, j.build)
	if err != nil {
		return nil, err
	}
	got := make(map[string][]string)
	for _, o := range res.Outputs {
		got[o.Name] = o.Strings()
	}
	return got, nil
}

// TestReplayFromRecordedPlans replays a job over a QueueStream, which
// cannot plan a batch again: its records come from the plans the
// checkpoint recorded (the replay's queue is empty). Without a plan it
// needs, the replay fails naming the input.
func TestReplayFromRecordedPlans(t *testing.T) {
	var bs [][]int
	for k := range 17 {
		var b []int
		for i := range 10 + k%4 {
			b = append(b, (k*31+i*17)%53)
		}
		bs = append(bs, b)
	}
	dir := t.TempDir()
	j := &replayJob{sink: &recordingSink{}, queue: sluice.NewQueue(bs...)}
	runReplayJob(t, dir, j, 17)
	bt := batchAt(16)
	got, err := replayed(t, dir, bt, &replayJob{sink: &recordingSink{}, queue: sluice.NewQueue[int]()})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range replayOutputs {
		want, ok := j.out[name][bt.UnixMilli()]
		if g := got[fmt.Sprintf("ForeachBatch#%d", i)]; !ok || len(want) == 0 || !slices.Equal(g, want) {
			t.Errorf("%s: replayed %v, the run had %v", name, g, want)
		}
	}

	// The newest metadata loses the input's plans before batch 14.
	keys := sluice.StoreKeys(dir, "metadata/")
	path := filepath.Join(dir, keys[len(keys)-1])
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	in := m["inputs"].([]any)[0].(map[string]any)
	plans := in["plans"].([]any)
	in["plans"] = slices.DeleteFunc(plans, func(p any) bool {
		return int64(p.(map[string]any)["t"].(float64)) < batchAt(14).UnixNano()
	})
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = replayed(t, dir, bt, &replayJob{sink: &recordingSink{}, queue: sluice.NewQueue[int]()})
	if err == nil || !strings.Contains(err.Error(), "input QueueStream#0 has no recorded plan of batch") ||
		!strings.Contains(err.Error(), fmt.Sprintf("batches %d ms to 17000 ms", batchAt(14).UnixMilli())) {
		t.Fatalf("replay without the plans: %v", err)
	}
	t.Log(err)
}

// TestReplayRefuses checks the errors of batches the checkpoint cannot
// replay, of a job that is not the checkpoint's, and of a damaged
// checkpoint.
func TestReplayRefuses(t *testing.T) {
	dir := t.TempDir()
	runReplayJob(t, dir, &replayJob{sink: &recordingSink{}}, 17)
	info, err := sluice.ReadCheckpoint(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	from := int(info.ReplayFrom.Sub(sluicetest.Epoch) / time.Second)
	damaged := func(t *testing.T, remove string) string {
		d := filepath.Join(t.TempDir(), "ckpt")
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(d, remove)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	state12 := fmt.Sprintf("state/totals/%020d/", batchAt(12).UnixNano())
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		batch time.Time
		job   *replayJob
		want  []string
	}{
		{"before-the-range", nil, batchAt(from - 1), nil,
			[]string{fmt.Sprintf("batch %d (", from-1), "not in the range", fmt.Sprintf("batches %d (", from), "to 17 ("}},
		{"not-completed", nil, batchAt(18), nil, []string{"batch 18 (", "the job has not completed it"}},
		{"before-the-job", nil, batchAt(0), nil, []string{"before the job's first batch"}},
		{"between-batches", nil, batchAt(14).Add(500 * time.Millisecond), nil, []string{"is not a batch time", "every 1s"}},
		{"no-checkpoint", func(t *testing.T) string { return t.TempDir() }, batchAt(14), nil, []string{"no checkpoint in"}},
		{"added-state", nil, batchAt(14), &replayJob{variant: "added"}, []string{"not the one that wrote", "not in the checkpoint: added"}},
		{"retyped-state", nil, batchAt(14), &replayJob{variant: "retyped"}, []string{"not the one that wrote", "state changed type: totals"}},
		{"other-input", nil, batchAt(14), &replayJob{queue: sluice.NewQueue[int]()},
			[]string{"input QueueStream#0 is not in the checkpoint", "input Generate#0 is not in the job"}},
		{"part-missing", func(t *testing.T) string { return damaged(t, state12+"part-00001") }, batchAt(14), nil,
			[]string{`state "totals" checkpoint at 12000 in`, "lacks partitions [1] of 3"}},
		{"manifest-missing", func(t *testing.T) string { return damaged(t, state12+"_manifest") }, batchAt(14), nil,
			[]string{"state checkpoint missing or damaged", `state "totals" checkpoint at 12000`, "not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, j := dir, tc.job
			if tc.dir != nil {
				d = tc.dir(t)
			}
			if j == nil {
				j = &replayJob{}
			}
			j.sink = &recordingSink{}
			_, err := replayed(t, d, tc.batch, j)
			if err == nil {
				t.Fatal("replayed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestProgramIsRecorded checks that the program and its arguments (a URL's
// password hidden) reach the metadata, and that a metadata checkpoint
// written before they were recorded still reads.
func TestProgramIsRecorded(t *testing.T) {
	dir := t.TempDir()
	runReplayJob(t, dir, &replayJob{sink: &recordingSink{}}, 2,
		sluice.Program("chaos job", "--rate", "5", "--postgres=postgres://u:secret@db/x", "postgres://v:pw@h/y"))
	info, err := sluice.ReadCheckpoint(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--rate", "5", "--postgres=postgres://u:xxxxx@db/x", "postgres://v:xxxxx@h/y"}
	if info.Program != "chaos job" || !slices.Equal(info.Args, want) {
		t.Errorf("recorded %q %q, want chaos job %q", info.Program, info.Args, want)
	}

	old := t.TempDir()
	if err := os.MkdirAll(filepath.Join(old, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	// As written before program, args and parallelism were recorded.
	v1 := `{"version":1,"epoch":0,"batch_ns":1000000000,"first":1000000000,"completed":3000000000,` +
		`"state":[{"name":"totals","kind":"UpdateStateByKey","type":"sluice.KV[int,int]","checkpoints":[2000000000]}]}`
	if err := os.WriteFile(filepath.Join(old, "metadata", fmt.Sprintf("%020d", 3*time.Second)), []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err = sluice.ReadCheckpoint(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if info.Program != "" || info.Args != nil || info.Parallelism != 0 || info.ReplayFrom.UnixNano() != 2e9 || info.Completed.UnixNano() != 3e9 {
		t.Errorf("old metadata read as %+v", info)
	}
}
