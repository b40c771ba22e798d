package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/progress"
	"github.com/sluicehq/sluice/sink/file"
)

// Config configures a chaos run.
type Config struct {
	Workers int
	// Duration is the length of the job in batches of Batch.
	Duration, Batch time.Duration
	// KillWorkerEvery is how often a random worker process gets SIGKILL
	// (0: never); KillDriverAt when the driver does, once (0: never).
	KillWorkerEvery, KillDriverAt time.Duration
	// DrainWorkerEvery is how often a random worker process gets SIGTERM
	// (0: never): it is drained and leaves with status 0, and the job
	// starts a new one (ScaleWorkers) to keep Workers.
	DrainWorkerEvery time.Duration
	Rate             int
	Seed             uint64
	// Postgres, if set, is a database the job also writes to.
	Postgres string
	// Source and Sink are the kinds of the job's input and outputs
	// (SourceKinds, SinkKinds; "" is "gen" and "file"). A Kafka source
	// or sink runs against an in-process Kafka cluster (kfake), a NATS
	// one against an embedded nats-server, in this process, which the
	// kills do not touch.
	Source, Sink string
	// Dir is the working directory (checkpoint, outputs, logs).
	Dir string
	// Binary is the sluice command to run the job with.
	Binary string
	// Log receives progress and the job's standard error.
	Log io.Writer
	// Status, if set, shows the job's batches and the reference run's.
	Status *progress.Status
}

// Result is what a chaos run found.
type Result struct {
	Batches           int   `json:"batches"`
	ExpectedBatches   int   `json:"expected_batches"`
	Identical         bool  `json:"identical"`
	Records           int64 `json:"records"`
	LostRecords       int64 `json:"lost_records"`
	DuplicatedRecords int64 `json:"duplicated_records"`
	WorkerKills       int   `json:"worker_kills"`
	DriverKills       int   `json:"driver_kills"`
	// WorkerDrains counts the SIGTERMs; DrainLateMsMax is the largest
	// lateness, beyond one batch interval, of a batch completed within
	// 10 s after one (completion minus batch time minus the interval; 0
	// if none was late): a drain should make no result later than that.
	WorkerDrains   int     `json:"worker_drains"`
	DrainLateMsMax float64 `json:"drain_late_ms_max"`
	RecoveryMsP50  float64 `json:"recovery_ms_p50"`
	RecoveryMsMax  float64 `json:"recovery_ms_max"`
	// Kills lists each kill, in order, and its recovery time.
	Kills []Kill `json:"kills"`
	Seed  uint64 `json:"seed"`
	Dir   string `json:"dir"`
	// Differences lists the first differing batches, for a human.
	Differences []string `json:"differences,omitempty"`
}

// Kill is one SIGKILL: when (milliseconds after the job started), to
// what ("worker" or "driver"), and the time until results were on
// schedule again (-1: never).
type Kill struct {
	AtMs       int64   `json:"at_ms"`
	Process    string  `json:"process"`
	RecoveryMs float64 `json:"recovery_ms"`
	at         time.Time
}

// Run runs the job on local-cluster while killing its processes, then
// the same input without failures, and compares the outputs.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Batch <= 0 || cfg.Duration < cfg.Batch || cfg.Workers < 1 {
		return nil, fmt.Errorf("chaos: need a batch interval, a duration of at least one batch and a worker")
	}
	cfg.Source, cfg.Sink = cmp.Or(cfg.Source, "gen"), cmp.Or(cfg.Sink, "file")
	if err := checkKinds(cfg.Source, cfg.Sink); err != nil {
		return nil, err
	}
	res := &Result{Seed: cfg.Seed, Dir: cfg.Dir, ExpectedBatches: int(cfg.Duration / cfg.Batch)}
	for _, d := range []string{"checkpoint", "out", "ref"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	table := ""
	if cfg.Postgres != "" {
		table = fmt.Sprintf("sluice_chaos_%d_%d", cfg.Seed, time.Now().UnixMilli())
		if err := createTable(ctx, cfg.Postgres, table); err != nil {
			return nil, err
		}
	}
	p, peerArgs, err := startPeers(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer p.stop()
	cfg.Status.Begin(progress.Phase{Label: "chaos", Total: res.ExpectedBatches, Interval: cfg.Batch})
	kills, drains, err := runWithKills(ctx, cfg, append(jobArgs(cfg, table), peerArgs...), res)
	if err != nil {
		return res, err
	}
	// The job is done: the input holds every record its batches read
	// (and more), so the reference finds them too.
	if err := p.stopFilling(); err != nil {
		return res, err
	}
	info, err := sluice.ReadCheckpoint(ctx, filepath.Join(cfg.Dir, "checkpoint"))
	if err != nil || info == nil {
		return res, fmt.Errorf("chaos: reading the job's checkpoint: %v", err)
	}
	recoveries(cfg, kills, res)
	drainLateness(cfg, drains, res)
	fmt.Fprintf(cfg.Log, "chaos: running the same %d batches without failures\n", res.ExpectedBatches)
	cfg.Status.Begin(progress.Phase{Label: "chaos: run without failures", Total: res.ExpectedBatches})
	if err := runReference(ctx, cfg, p, info.First); err != nil {
		return res, err
	}
	last := info.First.Add(time.Duration(res.ExpectedBatches-1) * cfg.Batch)
	if err := compare(cfg, p, table, info.First, last, res); err != nil {
		return res, err
	}
	res.Identical = res.LostRecords == 0 && res.DuplicatedRecords == 0 && res.Batches == res.ExpectedBatches
	return res, nil
}

// jobArgs are the job process's arguments.
func jobArgs(cfg Config, table string) []string {
	args := []string{"chaos", "job", "--dir", cfg.Dir, "--rate", strconv.Itoa(cfg.Rate),
		"--seed", strconv.FormatUint(cfg.Seed, 10), "--batches", strconv.Itoa(int(cfg.Duration / cfg.Batch)),
		"--batch", cfg.Batch.String(), "--master", fmt.Sprintf("local-cluster[%d]", cfg.Workers)}
	if cfg.Postgres != "" {
		args = append(args, "--postgres", cfg.Postgres, "--table", table)
	}
	if cfg.DrainWorkerEvery > 0 {
		args = append(args, "--keep-workers", strconv.Itoa(cfg.Workers))
	}
	if cfg.Source != "gen" {
		args = append(args, "--source", cfg.Source)
	}
	if cfg.Sink != "file" {
		args = append(args, "--sink", cfg.Sink)
	}
	return args
}

// runWithKills runs the job to its last batch, killing a random worker
// every KillWorkerEvery and the driver once at KillDriverAt (restarting
// it at once); it returns the kill times.
func runWithKills(ctx context.Context, cfg Config, args []string, res *Result) (kills []Kill, drains []time.Time, err error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	d, err := startDriver(cfg.Binary, args, cfg.Log, nil)
	if err != nil {
		return nil, nil, err
	}
	start := d.started
	batches := newFollower(cfg.Dir)
	defer batches.close()
	nextWorker := start.Add(cfg.KillWorkerEvery)
	nextDrain := start.Add(cfg.DrainWorkerEvery)
	drained := make(map[int]bool) // SIGTERM sent: not again (a second one ends it at once)
	deadline := start.Add(cfg.Duration + 5*time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-d.done:
			if err != nil {
				return kills, drains, fmt.Errorf("chaos: the job failed: %v; its last output:\n%s", err, d.tail.String())
			}
			return kills, drains, nil
		case <-ctx.Done():
			d.kill()
			return kills, drains, ctx.Err()
		case now := <-tick.C:
			if now.After(deadline) {
				d.kill()
				return kills, drains, fmt.Errorf("chaos: the job did not finish within %v", deadline.Sub(start))
			}
			batches.show(cfg.Status)
			cfg.Status.Note(killNote(res))
			// Kill only a driver that runs batches: one still starting
			// its workers has nothing to lose yet.
			running := ranBatchSince(cfg.Dir, d.started)
			if cfg.KillDriverAt > 0 && res.DriverKills == 0 && now.Sub(start) >= cfg.KillDriverAt && running {
				fmt.Fprintf(cfg.Log, "chaos: SIGKILL to the driver (pid %d)\n", d.cmd.Process.Pid)
				kills = append(kills, Kill{at: time.Now(), Process: "driver", AtMs: time.Since(start).Milliseconds()})
				d.cmd.Process.Signal(syscall.SIGKILL)
				<-d.done
				res.DriverKills++
				if d, err = startDriver(cfg.Binary, args, cfg.Log, nil); err != nil {
					return kills, drains, err
				}
				continue
			}
			if cfg.DrainWorkerEvery > 0 && !now.Before(nextDrain) && running {
				nextDrain = nextDrain.Add(cfg.DrainWorkerEvery)
				at := time.Now()
				pid, err := signalWorker(d.cmd.Process.Pid, rng.IntN, syscall.SIGTERM, drained)
				if pid != 0 && err == nil {
					fmt.Fprintf(cfg.Log, "chaos: SIGTERM to worker pid %d (drain)\n", pid)
					drained[pid] = true
					drains = append(drains, at)
					res.WorkerDrains++
				}
			}
			if cfg.KillWorkerEvery > 0 && !now.Before(nextWorker) && running {
				nextWorker = nextWorker.Add(cfg.KillWorkerEvery)
				at := time.Now()
				pid, err := killWorker(d.cmd.Process.Pid, rng.IntN)
				if pid == 0 {
					continue
				}
				fmt.Fprintf(cfg.Log, "chaos: SIGKILL to worker pid %d\n", pid)
				kills = append(kills, Kill{at: at, Process: "worker", AtMs: at.Sub(start).Milliseconds()})
				if err == nil {
					res.WorkerKills++
				}
			}
		}
	}
}

// killNote is what the status says of the kills so far.
func killNote(res *Result) string {
	if res.WorkerKills+res.DriverKills+res.WorkerDrains == 0 {
		return ""
	}
	note := fmt.Sprintf("worker kills %d, driver kills %d", res.WorkerKills, res.DriverKills)
	if res.WorkerDrains > 0 {
		note += fmt.Sprintf(", drains %d", res.WorkerDrains)
	}
	return note
}

// recoveries sets the recovery figures: for each kill, the time until a
// batch scheduled after it completed within one batch interval of its
// time.
func recoveries(cfg Config, kills []Kill, res *Result) {
	log := readLog(cfg.Dir)
	var ms []float64
	for _, k := range kills {
		k.RecoveryMs = -1
		if d, _, ok := recoveryAfter(log, k.at, cfg.Batch); ok {
			k.RecoveryMs = float64(d.Milliseconds())
			ms = append(ms, k.RecoveryMs)
		}
		res.Kills = append(res.Kills, k)
	}
	if len(ms) == 0 {
		return
	}
	slices.Sort(ms)
	res.RecoveryMsP50 = ms[len(ms)/2]
	res.RecoveryMsMax = ms[len(ms)-1]
}

// drainLateness sets DrainLateMsMax: the largest lateness beyond one
// batch interval of a batch completed within 10 s after a drain.
func drainLateness(cfg Config, drains []time.Time, res *Result) {
	log := readLog(cfg.Dir)
	for _, at := range drains {
		from, to := at.UnixMilli(), at.Add(10*time.Second).UnixMilli()
		for _, b := range log {
			if b.Done >= from && b.Done <= to {
				late := float64(b.Done - b.Batch - cfg.Batch.Milliseconds())
				res.DrainLateMsMax = max(res.DrainLateMsMax, late)
			}
		}
	}
}

// fastClock runs batches back to back from a start time, up to end.
type fastClock struct {
	mu  sync.Mutex
	now time.Time
	end time.Time
}

func (c *fastClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fastClock) WaitUntil(ctx context.Context, t time.Time) error {
	if t.After(c.end) {
		<-ctx.Done()
		return ctx.Err()
	}
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return ctx.Err()
}

// runReference runs the job without failures, in this process, over the
// same batches (from first), as fast as it goes, from the same source
// into the file sink.
func runReference(ctx context.Context, cfg Config, p *peers, first time.Time) error {
	n := int(cfg.Duration / cfg.Batch)
	last := first.Add(time.Duration(n-1) * cfg.Batch)
	clock := &fastClock{now: first.Add(-cfg.Batch), end: last}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var failed error
	c, err := sluice.NewContext(sluice.Master(fmt.Sprintf("local[%d]", cfg.Workers)), sluice.Batch(cfg.Batch),
		sluice.WithClock(clock), noBackpressure, sluice.OnBatch(func(b sluice.BatchInfo) {
			// On the fast clock, delays say nothing: the count does.
			cfg.Status.Observe(progress.Batch{Time: b.Time, Records: b.Records, Failed: b.Err != nil})
			if b.Err != nil {
				failed = b.Err
			}
			if !b.Time.Before(last) || b.Err != nil {
				cancel()
			}
		}))
	if err != nil {
		return err
	}
	Build(c, JobConfig{Out: filepath.Join(cfg.Dir, "ref"), Rate: cfg.Rate, Seed: cfg.Seed,
		Source: cfg.Source, Sink: "file", Brokers: strings.Join(p.brokers, ","), NATS: p.natsURL()})
	if err := sluice.RunUntilDone(ctx, c, 0); err != nil {
		return fmt.Errorf("chaos: the reference run: %w", err)
	}
	if failed != nil {
		return fmt.Errorf("chaos: the reference run: %w", failed)
	}
	if got := c.FirstBatch(); !got.Equal(first) {
		return fmt.Errorf("chaos: the reference run started at %v, the job at %v", got, first)
	}
	return nil
}

// compare compares the job's outputs with the reference's, batch by
// batch, in [first, last].
func compare(cfg Config, p *peers, table string, first, last time.Time, res *Result) error {
	inRange := func(t time.Time) bool { return !t.Before(first) && !t.After(last) }
	// A batch is complete when every output the reference has at its
	// time is there.
	complete, needed := make(map[int64]int), make(map[int64]int)
	for _, name := range Outputs {
		all, err := sinks[cfg.Sink].read(cfg, p, name)
		if err != nil {
			return fmt.Errorf("chaos: reading the job's output %s: %w", name, err)
		}
		got := make(map[int64][]string)
		for bt, lines := range all {
			if inRange(time.UnixMilli(bt)) {
				got[bt] = lines
			}
		}
		want, err := readOutput(filepath.Join(cfg.Dir, "ref"), name, inRange)
		if err != nil {
			return err
		}
		diff(name, got, want, res, complete, needed)
		if name == "totals" && table != "" {
			rows, err := readTable(cfg.Postgres, table, inRange)
			if err != nil {
				return err
			}
			diff("totals (postgres)", rows, want, res, complete, needed)
		}
	}
	for bt, n := range needed {
		if complete[bt] == n {
			res.Batches++
		}
	}
	return nil
}

// readOutput reads an output's committed batches in range, as lines.
func readOutput(dir, name string, inRange func(time.Time) bool) (map[int64][]string, error) {
	bs, err := file.ReadBatches(dir, name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := make(map[int64][]string)
	for _, b := range bs {
		if !inRange(b.Time) {
			continue
		}
		lines := []string{}
		for _, l := range b.Lines() {
			lines = append(lines, string(l))
		}
		out[b.Time.UnixMilli()] = lines
	}
	return out, nil
}

// diff counts the records of want missing from got (lost) and those of
// got beyond want (duplicated), batch by batch.
func diff(name string, got, want map[int64][]string, res *Result, complete, needed map[int64]int) {
	for bt, w := range want {
		res.Records += int64(len(w))
		needed[bt]++
		g, ok := got[bt]
		if ok {
			complete[bt]++
		} else if len(w) == 0 {
			continue
		}
		counts := make(map[string]int)
		for _, l := range w {
			counts[l]++
		}
		var lost, dup int64
		for _, l := range g {
			if counts[l] > 0 {
				counts[l]--
			} else {
				dup++
			}
		}
		for _, n := range counts {
			lost += int64(n)
		}
		res.LostRecords += lost
		res.DuplicatedRecords += dup
		if (lost > 0 || dup > 0 || !ok) && len(res.Differences) < 10 {
			res.Differences = append(res.Differences, fmt.Sprintf("%s at %d: %d lost, %d duplicated (present: %v)", name, bt, lost, dup, ok))
		}
	}
	for bt, g := range got {
		if _, ok := want[bt]; !ok {
			res.DuplicatedRecords += int64(len(g))
			if len(res.Differences) < 10 {
				res.Differences = append(res.Differences, fmt.Sprintf("%s at %d: a batch the reference does not have", name, bt))
			}
		}
	}
}

func createTable(ctx context.Context, url, table string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("chaos: postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (batch_ms bigint NOT NULL, key text NOT NULL, value bigint NOT NULL)",
		pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return fmt.Errorf("chaos: postgres: creating %s: %w", table, err)
	}
	return nil
}

// readTable reads the rows the job wrote to PostgreSQL, as the file
// sink's lines.
func readTable(url, table string, inRange func(time.Time) bool) (map[int64][]string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("chaos: postgres: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT batch_ms, key, value FROM %s", pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("chaos: postgres: %w", err)
	}
	defer rows.Close()
	out := make(map[int64][]string)
	for rows.Next() {
		var r Rec
		if err := rows.Scan(&r.Batch, &r.Key, &r.Value); err != nil {
			return nil, err
		}
		if !inRange(time.UnixMilli(r.Batch)) {
			continue
		}
		line, _ := json.Marshal(r)
		out[r.Batch] = append(out[r.Batch], string(line))
	}
	return out, rows.Err()
}
