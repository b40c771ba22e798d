package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/progress"
)

// The recovery benchmark (`sluice bench recovery`): a job keeping a state
// of a given number of keys, checkpointed at a given interval, on
// local-cluster; one worker process gets SIGKILL at a chosen point of the
// checkpoint interval, and the batch log says how late results came and
// when they were on schedule again.

// RecoveryConfig configures one run of the recovery benchmark.
type RecoveryConfig struct {
	Workers int
	// Keys is the number of distinct keys in the state.
	Keys int
	// CheckpointEvery is the state's checkpoint interval, a multiple of
	// Batch.
	CheckpointEvery, Batch time.Duration
	// Rate is the input's records per second; every key has appeared
	// after Keys/Rate seconds.
	Rate int
	// KillAt places the kill in the checkpoint interval: this fraction of
	// it after a checkpoint batch, plus half a batch (mid-interval).
	KillAt float64
	// After is how long the job runs after the kill.
	After time.Duration
	// Parallelism is the job's number of partitions (0: one per worker).
	Parallelism int
	Seed        uint64
	// Dir is the run's working directory (checkpoint, batch log).
	Dir string
	// Binary is the sluice command to run the job with.
	Binary string
	// Log receives progress and the job's standard error.
	Log io.Writer
	// Status, if set, shows the job's batches (RunRecovery sets the
	// phase's total; the caller begins it).
	Status *progress.Status
}

// RecoveryRun is what one run measured. Times are in milliseconds; delays
// are from a batch's time to its completion.
type RecoveryRun struct {
	Workers           int     `json:"workers"`
	Keys              int     `json:"keys"`
	CheckpointEveryMS int64   `json:"checkpoint_every_ms"`
	BatchMS           int64   `json:"batch_ms"`
	Rate              int     `json:"rate"`
	Partitions        int     `json:"partitions"`
	KillAt            float64 `json:"kill_at"`
	// Killed says a worker process got SIGKILL; KilledPID is which.
	Killed    bool `json:"killed"`
	KilledPID int  `json:"killed_pid"`
	// KillAfterCheckpointMS is the time from the latest committed state
	// checkpoint's batch to the kill; LineageBatches the batches of
	// lineage from it that a lost state partition is recomputed through
	// (up to the first batch scheduled after the kill).
	KillAfterCheckpointMS float64 `json:"kill_after_checkpoint_ms"`
	LineageBatches        int     `json:"lineage_batches"`
	// StateKeys is the state's size at the batch before the kill, and
	// StateKeysEnd at the last batch: both must be Keys.
	StateKeys    int64 `json:"state_keys"`
	StateKeysEnd int64 `json:"state_keys_end"`
	// NormalBatchMS is the median processing time of the batches between
	// the warm-up and the kill.
	NormalBatchMS float64 `json:"normal_batch_ms"`
	// DetectionMS is the time from the kill until the driver logged the
	// worker lost; ReplacementMS until a replacement worker joined (-1:
	// not seen).
	DetectionMS   float64 `json:"detection_ms"`
	ReplacementMS float64 `json:"replacement_ms"`
	// RecoveryMS is the time from the kill until a batch scheduled at or
	// after it completed within one batch interval of its time (results
	// on schedule again); Recovered says one did.
	RecoveryMS float64 `json:"recovery_ms"`
	Recovered  bool    `json:"recovered"`
	// ExtraDelayMS is the delay of the first result scheduled after the
	// kill minus NormalBatchMS; MaxDelayMS the longest delay of a batch
	// completed between the kill and the recovery.
	ExtraDelayMS float64 `json:"extra_delay_ms"`
	MaxDelayMS   float64 `json:"max_delay_ms"`
	// DelaysMS are the delays of the batches from the one running at the
	// kill through the first on schedule again.
	DelaysMS []float64 `json:"delays_ms"`
	// RecordsPerSec is the job's throughput before the kill: a batch's
	// records over NormalBatchMS. BaselineRecordsPerSec is that of a
	// single-threaded program keeping the same counts (RecoveryBaseline)
	// and CostRatio the first over the second.
	RecordsPerSec         float64 `json:"records_per_sec"`
	BaselineRecordsPerSec float64 `json:"baseline_records_per_sec"`
	CostRatio             float64 `json:"cost_ratio"`
	Dir                   string  `json:"dir,omitempty"`
}

// recoveryState names the job's state operator.
const recoveryState = "state"

// recoveryPlan is a run's schedule in batches, counted from the job's
// first batch (1).
type recoveryPlan struct {
	warm       int           // the first batch by which every key appeared
	checkpoint int           // the checkpoint batch the kill follows
	kill       time.Duration // the kill, after the checkpoint batch's time
	batches    int           // the job's length
}

func planRecovery(cfg RecoveryConfig) (recoveryPlan, error) {
	if cfg.Batch <= 0 || cfg.CheckpointEvery < cfg.Batch || cfg.CheckpointEvery%cfg.Batch != 0 {
		return recoveryPlan{}, fmt.Errorf("chaos: the checkpoint interval %v must be a multiple of the batch interval %v", cfg.CheckpointEvery, cfg.Batch)
	}
	if cfg.Workers < 2 || cfg.Keys < 1 || cfg.Rate < 1 || cfg.KillAt < 0 || cfg.KillAt >= 1 {
		return recoveryPlan{}, fmt.Errorf("chaos: need 2 workers or more, keys, a rate and a kill point in [0, 1)")
	}
	every := int(cfg.CheckpointEvery / cfg.Batch)
	perBatch := float64(cfg.Rate) * cfg.Batch.Seconds()
	var p recoveryPlan
	p.warm = int(math.Ceil(float64(cfg.Keys) / perBatch))
	// A few batches in at least (connections, caches), then the first
	// checkpoint of the full state.
	first := max(p.warm+1, 3)
	p.checkpoint = (first + every - 1) / every * every
	p.kill = time.Duration(cfg.KillAt*float64(cfg.CheckpointEvery)) + cfg.Batch/2
	killBatch := p.checkpoint + int(p.kill/cfg.Batch)
	p.batches = killBatch + int((cfg.After+cfg.Batch-1)/cfg.Batch) + 1
	return p, nil
}

// recoveryArgs are the job process's arguments.
func recoveryArgs(cfg RecoveryConfig, batches int) []string {
	return []string{"bench", "recovery", "job", "--dir", cfg.Dir, "--keys", strconv.Itoa(cfg.Keys),
		"--rate", strconv.Itoa(cfg.Rate), "--seed", strconv.FormatUint(cfg.Seed, 10),
		"--checkpoint-every", cfg.CheckpointEvery.String(), "--batches", strconv.Itoa(batches),
		"--batch", cfg.Batch.String(), "--master", fmt.Sprintf("local-cluster[%d]", cfg.Workers),
		"--parallelism", strconv.Itoa(partitions(cfg))}
}

// partitions is the job's number of partitions.
func partitions(cfg RecoveryConfig) int {
	if cfg.Parallelism > 0 {
		return cfg.Parallelism
	}
	return cfg.Workers
}

// RunRecovery runs the job, kills one worker process at the planned
// point, lets the job run for After, and measures from its batch log.
func RunRecovery(ctx context.Context, cfg RecoveryConfig) (*RecoveryRun, error) {
	p, err := planRecovery(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	run := &RecoveryRun{Workers: cfg.Workers, Keys: cfg.Keys, CheckpointEveryMS: cfg.CheckpointEvery.Milliseconds(),
		BatchMS: cfg.Batch.Milliseconds(), Rate: cfg.Rate, Partitions: partitions(cfg), KillAt: cfg.KillAt, DetectionMS: -1, ReplacementMS: -1, Dir: cfg.Dir}
	cfg.Status.SetTotal(p.batches)
	w := &lossWatch{}
	d, err := startDriver(cfg.Binary, recoveryArgs(cfg, p.batches), cfg.Log, w.line)
	if err != nil {
		return nil, err
	}
	kill, err := killOnPlan(ctx, cfg, p, d, w, run)
	if err != nil {
		return run, err
	}
	measureRecovery(cfg, p, readLog(cfg.Dir), kill, run)
	if run.NormalBatchMS > 0 {
		run.RecordsPerSec = float64(cfg.Rate) * cfg.Batch.Seconds() / (run.NormalBatchMS / 1000)
	}
	run.BaselineRecordsPerSec = RecoveryBaseline(ctx, cfg.Keys, cfg.Rate, cfg.Batch, cfg.Seed, 10)
	if run.BaselineRecordsPerSec > 0 {
		run.CostRatio = run.RecordsPerSec / run.BaselineRecordsPerSec
	}
	if at, ok := w.lostAt(); ok {
		run.DetectionMS = ms(at.Sub(kill))
	}
	if at, ok := w.joinedAt(); ok {
		run.ReplacementMS = ms(at.Sub(kill))
	}
	return run, nil
}

// killOnPlan waits for the job's first batch, kills a worker at the
// planned time, and waits for the job to end. It returns the kill time.
func killOnPlan(ctx context.Context, cfg RecoveryConfig, p recoveryPlan, d *driverProc, w *lossWatch, run *RecoveryRun) (time.Time, error) {
	var kill, at time.Time
	deadline := d.started.Add(time.Duration(p.batches)*cfg.Batch + 3*time.Minute)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	batches := newFollower(cfg.Dir)
	defer batches.close()
	for {
		select {
		case err := <-d.done:
			if err != nil {
				return kill, fmt.Errorf("chaos: the job failed: %v; its last output:\n%s", err, d.tail.String())
			}
			if !run.Killed {
				return kill, fmt.Errorf("chaos: the job ended before the kill")
			}
			return kill, nil
		case <-ctx.Done():
			d.kill()
			return kill, ctx.Err()
		case now := <-tick.C:
			if now.After(deadline) {
				d.kill()
				return kill, fmt.Errorf("chaos: the job did not finish within %v", deadline.Sub(d.started))
			}
			batches.show(cfg.Status)
			if at.IsZero() {
				if log := readLog(cfg.Dir); len(log) > 0 {
					zero := time.UnixMilli(log[0].Batch).Add(-cfg.Batch)
					at = zero.Add(time.Duration(p.checkpoint)*cfg.Batch + p.kill)
				}
				continue
			}
			if run.Killed || now.Before(at) {
				continue
			}
			ckpt := latestCheckpoint(ctx, cfg.Dir)
			w.arm()
			kill = time.Now()
			pid, err := killWorker(d.cmd.Process.Pid, func(n int) int { return int(cfg.Seed % uint64(n)) })
			if pid == 0 || err != nil {
				d.kill()
				return kill, fmt.Errorf("chaos: no worker process to kill (pid %d): %v", pid, err)
			}
			run.Killed, run.KilledPID = true, pid
			fmt.Fprintf(cfg.Log, "chaos: SIGKILL to worker pid %d at %s\n", pid, kill.Format("15:04:05.000"))
			cfg.Status.Note(fmt.Sprintf("worker pid %d killed at %s", pid, kill.Format("15:04:05")))
			if !ckpt.IsZero() {
				run.KillAfterCheckpointMS = ms(kill.Sub(ckpt))
				next := kill.Sub(ckpt) / cfg.Batch // batches of lineage, up to the next scheduled batch
				run.LineageBatches = int(next) + 1
			}
		}
	}
}

// latestCheckpoint returns the batch time of the state's latest
// committed checkpoint (zero if none).
func latestCheckpoint(ctx context.Context, dir string) time.Time {
	info, err := sluice.ReadCheckpoint(ctx, filepath.Join(dir, "checkpoint"))
	if err != nil || info == nil || len(info.State[recoveryState]) == 0 {
		return time.Time{}
	}
	ts := info.State[recoveryState]
	return ts[len(ts)-1]
}

// measureRecovery sets run's figures from the batch log.
func measureRecovery(cfg RecoveryConfig, p recoveryPlan, log []batchLog, kill time.Time, run *RecoveryRun) {
	if len(log) == 0 {
		return
	}
	zero := time.UnixMilli(log[0].Batch).Add(-cfg.Batch)
	warm := zero.Add(time.Duration(p.warm+1) * cfg.Batch).UnixMilli()
	var normal []float64
	for _, b := range log {
		if b.Batch < kill.UnixMilli() && b.Done < kill.UnixMilli() {
			run.StateKeys = b.Value
			if b.Batch >= warm {
				normal = append(normal, b.Proc)
			}
		}
		run.StateKeysEnd = b.Value
	}
	run.NormalBatchMS = median(normal)
	rec, recovered, ok := recoveryAfter(log, kill, cfg.Batch)
	run.Recovered = ok
	if ok {
		run.RecoveryMS = ms(rec)
	}
	first := true
	for _, b := range log {
		if b.Done < kill.UnixMilli() {
			continue
		}
		delay := float64(b.Done - b.Batch)
		if first && b.Batch >= kill.UnixMilli() {
			run.ExtraDelayMS = delay - run.NormalBatchMS
			first = false
		}
		run.MaxDelayMS = max(run.MaxDelayMS, delay)
		run.DelaysMS = append(run.DelaysMS, delay)
		if !ok || b.Batch >= recovered.Batch {
			break
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// lossWatch watches the job's standard error for the driver's reports of
// a lost worker and of a worker joining, after it is armed (at the kill).
type lossWatch struct {
	mu             sync.Mutex
	armed          bool
	lost, joined   time.Time
	sawLost, sawIn bool
}

func (w *lossWatch) arm() {
	w.mu.Lock()
	w.armed = true
	w.mu.Unlock()
}

// line is tail's watch function.
func (w *lossWatch) line(l string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return
	}
	switch {
	case !w.sawLost && strings.Contains(l, "cluster: worker lost"):
		w.lost, w.sawLost = time.Now(), true
	case !w.sawIn && strings.Contains(l, "cluster: worker joined"):
		w.joined, w.sawIn = time.Now(), true
	}
}

func (w *lossWatch) lostAt() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost, w.sawLost
}

func (w *lossWatch) joinedAt() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.joined, w.sawIn
}

// keyStride returns a stride coprime with n, near n times the golden
// ratio's fraction: record i's key (i·stride + offset) mod n runs through
// all n keys in n records, spread over the key space.
func keyStride(n uint64) uint64 {
	s := uint64(float64(n)*0.6180339887) | 1
	for gcd(s, n) != 1 {
		s += 2
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// BuildRecovery builds the recovery job on c: rate records/s of (key, 1)
// over keys distinct keys (each appears once in every keys records), a
// running count per key (UpdateStateByKey, checkpointed every
// checkpointEvery), and the state's size counted at every batch into
// sizes (by batch time, Unix ms).
func BuildRecovery(c *sluice.Context, keys, rate int, checkpointEvery time.Duration, seed uint64, sizes *sync.Map) {
	n := uint64(max(keys, 1))
	stride, offset := keyStride(n), seed%n
	gen := sluice.GeneratorFunc[sluice.KV[int64, int64]](func(from, to int64, _, _ time.Time) []sluice.KV[int64, int64] {
		out := make([]sluice.KV[int64, int64], 0, max(to-from, 0))
		for i := from; i < to; i++ {
			k := (uint64(i)%n*stride + offset) % n
			out = append(out, sluice.Pair(int64(k), int64(1)))
		}
		return out
	})
	pairs := sluice.Generate(c, gen, rate)
	state := sluice.UpdateStateByKey(pairs, func(_ int64, vs []int64, s int64, _ bool) (int64, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}, sluice.Named(recoveryState), sluice.CheckpointInterval(checkpointEvery))
	sluice.ForeachBatch(state, func(ctx context.Context, d sluice.Dataset[sluice.KV[int64, int64]], t time.Time) error {
		size, err := d.Count(ctx)
		if err == nil {
			sizes.Store(t.UnixMilli(), size)
		}
		return err
	})
}

// RecoveryBaseline is the recovery job as a single-threaded program, the
// COST baseline: it makes the same (key, 1) records of batches batches,
// keeps a running count per key in a map and counts the keys after each
// batch, as the job does. It returns its throughput in records/s (0 if
// ctx ends first).
func RecoveryBaseline(ctx context.Context, keys, rate int, batch time.Duration, seed uint64, batches int) float64 {
	n := uint64(max(keys, 1))
	stride, offset := keyStride(n), seed%n
	per := int64(float64(rate) * batch.Seconds())
	counts := make(map[int64]int64)
	var sizes int64
	start := time.Now()
	for b := range int64(batches) {
		if ctx.Err() != nil {
			return 0
		}
		for i := b * per; i < (b+1)*per; i++ {
			counts[int64((uint64(i)%n*stride+offset)%n)]++
		}
		sizes += int64(len(counts))
	}
	took := time.Since(start)
	if took <= 0 || sizes == 0 {
		return 0
	}
	return float64(per*int64(batches)) / took.Seconds()
}

// RunRecoveryJob is the recovery job's process (`sluice bench recovery
// job`), on the driver and, with the same arguments, on its workers.
func RunRecoveryJob(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench recovery job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f sluice.Flags
	f.Register(fs)
	dir := fs.String("dir", "", "working directory: checkpoint and batch log")
	keys := fs.Int("keys", 100000, "distinct keys in the state")
	rate := fs.Int("rate", 100000, "records per second")
	seed := fs.Uint64("seed", 1, "the generator's seed")
	every := fs.Duration("checkpoint-every", 10*time.Second, "state checkpoint interval")
	batches := fs.Int("batches", 60, "stop after this many batches")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("chaos: recovery job: --dir is required")
	}
	var sizes sync.Map
	value := func(t time.Time) int64 {
		v, _ := sizes.LoadAndDelete(t.UnixMilli())
		n, _ := v.(int64)
		return n
	}
	// A fixed input rate, whatever a recovery does to the batches'
	// delays: the benchmark measures the recovery, not the backpressure.
	opts := append([]sluice.Option{sluice.NoBackpressure()}, f.Options()...)
	return runJobProcess(ctx, *dir, *batches, opts, value, func(c *sluice.Context) {
		BuildRecovery(c, *keys, *rate, *every, *seed, &sizes)
	}, 0)
}
