package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/chaos"
	"github.com/sluicehq/sluice/internal/progress"
)

// recoveryResult is what `sluice bench recovery --json` prints.
type recoveryResult struct {
	Workload string               `json:"workload"`
	Cores    int                  `json:"cores"`
	Runs     []*chaos.RecoveryRun `json:"runs"`
}

// runBenchRecovery runs `sluice bench recovery`: for every combination of
// the listed workers, state sizes and checkpoint intervals, a stateful job
// on local-cluster loses one worker process to SIGKILL (see
// chaos.RunRecovery); or, as `sluice bench recovery job`, the job itself.
func runBenchRecovery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "job" {
		return chaos.RunRecoveryJob(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("sluice bench recovery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.String("workers", "2,3,4", "worker processes (local-cluster), a comma-separated list")
	keys := fs.String("keys", "100000,1000000", "distinct keys in the state, a comma-separated list")
	every := fs.String("checkpoint-every", "2s,10s,30s", "state checkpoint intervals, a comma-separated list")
	cfg := chaos.RecoveryConfig{Log: io.Discard}
	fs.DurationVar(&cfg.Batch, "batch", time.Second, "batch interval")
	fs.IntVar(&cfg.Rate, "rate", 100000, "input records per second (every key appears once per keys records)")
	fs.Float64Var(&cfg.KillAt, "kill-at", 0.5, "kill this fraction of the checkpoint interval after a checkpoint (plus half a batch)")
	fs.IntVar(&cfg.Parallelism, "parallelism", 0, "partitions of the job's input and state (0: one per worker)")
	fs.DurationVar(&cfg.After, "after", 10*time.Second, "run this long after the kill")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed; also picks the worker killed")
	dir := fs.String("dir", "", "working directory, kept (default: a temporary one, removed unless a run fails)")
	verbose := fs.Bool("v", false, "show the jobs' logs on standard error")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice bench recovery [flags]\n\n"+
			"Runs a job keeping a running count per key (UpdateStateByKey) on local-cluster, checkpointing its\n"+
			"state, and kills one worker process with SIGKILL in the middle of a checkpoint interval; measures\n"+
			"how much later results come and how long until they are on schedule again, for every combination\n"+
			"of the listed workers, keys and checkpoint intervals.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	ws, err1 := intList(*workers)
	ks, err2 := intList(*keys)
	es, err3 := durationList(*every)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return fmt.Errorf("sluice bench recovery: %w", err)
		}
	}
	st := startStatus(stdout, stderr)
	defer st.close()
	cfg.Status = st.Status
	if *verbose {
		cfg.Log = st.stderr
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary = bin
	keep := *dir != ""
	if !keep {
		if *dir, err = os.MkdirTemp("", "sluice-recovery-"); err != nil {
			return err
		}
	}
	res := recoveryResult{Workload: "recovery", Cores: goruntime.NumCPU()}
	runs := len(ws) * len(ks) * len(es)
	for _, w := range ws {
		for _, k := range ks {
			for _, e := range es {
				c := cfg
				c.Workers, c.Keys, c.CheckpointEvery = w, k, e
				c.Dir = filepath.Join(*dir, fmt.Sprintf("w%d-k%d-c%v", w, k, e))
				fmt.Fprintf(st.stderr, "recovery: %d workers, %d keys, checkpoint every %v, batch %v\n", w, k, e, c.Batch)
				// The settings are on the line above: a short label leaves room
				// for the figures.
				st.Begin(progress.Phase{Label: fmt.Sprintf("recovery %d/%d", len(res.Runs)+1, runs), Interval: c.Batch})
				run, err := chaos.RunRecovery(ctx, c)
				if err != nil {
					return fmt.Errorf("sluice bench recovery (kept in %s): %w", *dir, err)
				}
				if !keep {
					run.Dir = ""
				}
				res.Runs = append(res.Runs, run)
			}
		}
	}
	st.close()
	if !keep {
		os.RemoveAll(*dir)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printRecovery(stdout, res)
	return nil
}

// printRecovery prints the runs as a table.
func printRecovery(w io.Writer, res recoveryResult) {
	fmt.Fprintf(w, "sluice bench recovery: %d cores, one worker process killed with SIGKILL per run\n\n", res.Cores)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workers\tpartitions\tkeys\tcheckpoint\tbatch\tlineage\tnormal\tdetection\treplacement\textra delay\tmax delay\trecovery\tcost ratio\t")
	for _, r := range res.Runs {
		rec := "never"
		if r.Recovered {
			rec = fmt.Sprintf("%.0f ms", r.RecoveryMS)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%v\t%v\t%d batches\t%.0f ms\t%s\t%s\t%.0f ms\t%.0f ms\t%s\t%.2f\t\n", r.Workers, r.Partitions, r.Keys,
			time.Duration(r.CheckpointEveryMS)*time.Millisecond, time.Duration(r.BatchMS)*time.Millisecond, r.LineageBatches,
			r.NormalBatchMS, msOrNone(r.DetectionMS), msOrNone(r.ReplacementMS), r.ExtraDelayMS, r.MaxDelayMS, rec, r.CostRatio)
	}
	tw.Flush()
}

func msOrNone(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", v)
}

// listOf parses a comma-separated list of values, each parsed by parse
// and accepted by ok; what names them in the error.
func listOf[T any](s, what string, parse func(string) (T, error), ok func(T) bool) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil || !ok(v) {
			return nil, fmt.Errorf("%q is not a list of %s", s, what)
		}
		out = append(out, v)
	}
	return out, nil
}

func intList(s string) ([]int, error) {
	return listOf(s, "positive integers", strconv.Atoi, func(n int) bool { return n >= 1 })
}

func durationList(s string) ([]time.Duration, error) {
	return listOf(s, "positive durations", time.ParseDuration, func(d time.Duration) bool { return d > 0 })
}
