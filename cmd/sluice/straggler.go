package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/bench"
	"github.com/sluicehq/sluice/internal/progress"
)

// stragglerResult is what `sluice bench straggler --json` prints: the
// median batch processing time of each run, and the ratios to the
// baseline's.
type stragglerResult struct {
	Workload string  `json:"workload"`
	Master   string  `json:"master"`
	Slowdown float64 `json:"slowdown"`
	// Baseline: no straggler. Off: one worker slowed, speculation off.
	// On: the same with speculation (and exclusion) on, the defaults.
	// OnNoExclusion: speculation on, exclusion off (what backup copies
	// alone do).
	BaselineMsP50      float64 `json:"baseline_ms_p50"`
	StragglerOffMsP50  float64 `json:"straggler_off_ms_p50"`
	StragglerOnMsP50   float64 `json:"straggler_on_ms_p50"`
	OnNoExclusionMsP50 float64 `json:"on_no_exclusion_ms_p50"`
	OffRatio           float64 `json:"off_ratio"`
	OnRatio            float64 `json:"on_ratio"`
	OnNoExclusionRatio float64 `json:"on_no_exclusion_ratio"`
	// Runs are the four runs' own figures, in that order.
	Runs []stragglerRun `json:"runs"`
	// The baseline run's single-threaded COST baseline and ratio (the
	// other runs skip it: same input, same baseline).
	BaselineRecordsPerSec float64 `json:"baseline_records_per_sec"`
	CostRatio             float64 `json:"cost_ratio"`
}

type stragglerRun struct {
	Name string `json:"name"`
	bench.Result
}

// runBenchStraggler runs `sluice bench straggler`: one workload on
// local-cluster four ways, each in a process of its own (so that each run
// starts its own worker processes): without a straggler, with one worker
// slowed and speculation off, with speculation on, and with speculation on
// but exclusion off.
func runBenchStraggler(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench straggler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("workload", "wordcount", "the workload (see sluice bench --help)")
	workers := fs.Int("workers", 4, "worker processes (local-cluster)")
	slowdown := fs.Float64("slowdown", 4, "how many times as long the slowed worker's tasks take")
	batch := fs.Duration("batch", time.Second, "batch interval")
	duration := fs.Duration("duration", 20*time.Second, "how long each run lasts")
	rate := fs.Int("rate", 0, "input records per second (0: the workload's default)")
	seed := fs.Uint64("seed", 1, "generator seed")
	warmup := fs.Int("warmup", 3, "batches run before measuring")
	verbose := fs.Bool("v", false, "show the runs' logs on standard error")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice bench straggler [flags]\n\n"+
			"Runs a workload on local-cluster four ways: without a straggler; with worker 0 slowed --slowdown times\n"+
			"(its tasks sleep, taking no CPU from the others) and speculation off; the same with speculation on\n"+
			"(and worker exclusion, the defaults); and with speculation on but exclusion off. Reports each run's\n"+
			"median batch processing time and its ratio to the baseline's.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, ok := bench.Workloads[*workload]; !ok {
		return fmt.Errorf("sluice bench straggler: unknown workload %q", *workload)
	}
	if *workers < 2 || !(*slowdown >= 1) {
		return fmt.Errorf("sluice bench straggler: need at least 2 workers and a slowdown ≥ 1")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	master := fmt.Sprintf("local-cluster[%d]", *workers)
	common := []string{"bench", *workload, "--json", "--master", master, "--batch", batch.String(),
		"--duration", duration.String(), "--seed", strconv.FormatUint(*seed, 10), "--warmup", strconv.Itoa(*warmup),
		"--rate", strconv.Itoa(*rate)}
	slow := []string{"--straggler", "0", "--slowdown", strconv.FormatFloat(*slowdown, 'g', -1, 64)}
	runs := []struct {
		name string
		args []string
	}{
		{"baseline", nil},
		{"straggler, speculation off", append(slow, "--speculation=false", "--baseline=false")},
		{"straggler, speculation on", append(slow, "--baseline=false")},
		{"straggler, speculation on, exclusion off", append(slow, "--exclusion=false", "--baseline=false")},
	}
	res := stragglerResult{Workload: *workload, Master: master, Slowdown: *slowdown}
	st := startStatus(stdout, stderr)
	defer st.close()
	for i, r := range runs {
		fmt.Fprintf(st.stderr, "straggler: %s, %s\n", *workload, r.name)
		st.Begin(progress.Phase{Label: fmt.Sprintf("straggler %d/%d", i+1, len(runs)), Total: int(*duration / *batch), Interval: *batch})
		br, err := benchProcess(ctx, bin, append(append([]string{}, common...), r.args...), *verbose, st)
		if err != nil {
			return fmt.Errorf("sluice bench straggler: run %q: %w", r.name, err)
		}
		res.Runs = append(res.Runs, stragglerRun{r.name, br})
	}
	st.close()
	res.BaselineMsP50 = res.Runs[0].ProcessingMsP50
	res.BaselineRecordsPerSec, res.CostRatio = res.Runs[0].BaselineRecordsPerSec, res.Runs[0].CostRatio
	res.StragglerOffMsP50 = res.Runs[1].ProcessingMsP50
	res.StragglerOnMsP50 = res.Runs[2].ProcessingMsP50
	res.OnNoExclusionMsP50 = res.Runs[3].ProcessingMsP50
	if b := res.BaselineMsP50; b > 0 {
		res.OffRatio = res.StragglerOffMsP50 / b
		res.OnRatio = res.StragglerOnMsP50 / b
		res.OnNoExclusionRatio = res.OnNoExclusionMsP50 / b
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "sluice bench straggler: %s on %s, worker 0 slowed %g×\n\n", *workload, master, *slowdown)
	for _, r := range res.Runs {
		fmt.Fprintf(stdout, "  %-42s processing p50 %7.1f ms  p99 %7.1f ms  ×%.2f  (speculative %d launched, %d won; %d exclusions)\n",
			r.Name, r.ProcessingMsP50, r.ProcessingMsP99, r.ProcessingMsP50/max(res.BaselineMsP50, 1e-9),
			r.SpeculativeLaunched, r.SpeculativeWon, r.Exclusions)
	}
	return nil
}

// benchProcess runs `sluice bench WORKLOAD … --json` (args) as a process
// of its own, so that a local-cluster run starts its own workers and one
// run's garbage does not slow the next, and returns what it printed. Its
// log goes to st's standard error if verbose; its batches show on st.
func benchProcess(ctx context.Context, bin string, args []string, verbose bool, st *commandStatus) (bench.Result, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if verbose {
		cmd.Stderr = st.stderr
	}
	started, ended, err := followBatches(cmd, st)
	if err != nil {
		return bench.Result{}, err
	}
	err = cmd.Start()
	started()
	if err == nil {
		err = cmd.Wait()
	}
	ended()
	if err != nil {
		return bench.Result{}, err
	}
	var r bench.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return bench.Result{}, fmt.Errorf("it printed %q: %v", out.String(), err)
	}
	return r, nil
}
