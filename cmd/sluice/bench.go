package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bench"
	"github.com/sluicehq/sluice/internal/progress"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "recovery" {
		return runBenchRecovery(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "latency" {
		return runBenchLatency(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "straggler" {
		return runBenchStraggler(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sluice bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.Options{Master: "local[*]", Batch: time.Second, Duration: 15 * time.Second, Seed: 1, Warmup: 2}
	fs.StringVar(&o.Master, "master", o.Master, "where to run: local, local[N], local[*], local-cluster[N] or standalone[N]")
	fs.DurationVar(&o.Batch, "batch", o.Batch, "batch interval")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to run")
	fs.IntVar(&o.Rate, "rate", 0, "input records per second (0: the workload's default)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "generator seed")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "batches run before measuring")
	listen := fs.String("listen", "", "standalone master: accept workers on this address")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file (local-cluster workers add .worker-N)")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	straggler := fs.Int("straggler", -1, "make this worker (from 0) a straggler (testing aid; see --slowdown, --stall)")
	slowdown := fs.Float64("slowdown", 4, "with --straggler: how many times as long its tasks take")
	stall := fs.Bool("stall", false, "with --straggler: its tasks never end unless cancelled")
	speculation := fs.Bool("speculation", true, "speculative copies of straggling tasks")
	exclusion := fs.Bool("exclusion", true, "exclude workers that keep straggling or failing")
	query := fs.String("query", "", "with the nexmark workload: the query (q0, q1, q2, q3, q4, q5, q7, q8, q12)")
	baseline := fs.Bool("baseline", true, "also run the single-threaded baseline over the same input (baseline_records_per_sec, cost_ratio)")
	progressFD := fs.Int("progress-fd", 0, "write each batch's figures as a line of JSON to this file descriptor (how the straggler and latency benchmarks, which run workloads as processes of their own, show their progress)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice bench WORKLOAD [flags]\n\nworkloads:\n")
		var queries []string
		for _, n := range bench.Names() {
			if q, ok := strings.CutPrefix(n, "nexmark-"); ok {
				queries = append(queries, q)
				continue
			}
			fmt.Fprintf(stderr, "  %-10s %s\n", n, bench.Workloads[n].Description)
		}
		// Nexmark queries in their numeric order: q0, q1, …, q12.
		slices.SortFunc(queries, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
		fmt.Fprintf(stderr, "  %-10s %s\n", "nexmark", "the Nexmark queries, one per run (--query):")
		for _, q := range queries {
			fmt.Fprintf(stderr, "    %-8s %s\n", q, strings.TrimPrefix(bench.Workloads["nexmark-"+q].Description, "Nexmark "+q+": "))
		}
		fmt.Fprintf(stderr, "  %-10s %s\n", "recovery", "extra result delay after SIGKILL of a worker of a stateful job (own flags: see --help)")
		fmt.Fprintf(stderr, "  %-10s %s\n", "latency", "the highest rate that keeps up, and end-to-end delay, per batch interval (own flags)")
		fmt.Fprintf(stderr, "  %-10s %s\n", "straggler", "a workload with a slowed worker, speculation off and on (own flags: see --help)")
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	name := args[0]
	if name == "nexmark" {
		if *query == "" {
			fmt.Fprintf(stderr, "sluice bench nexmark: --query is required (q0, q1, q2, q3, q4, q5, q7, q8, q12)\n")
			return errUsage
		}
		name = "nexmark-" + *query
	}
	w, ok := bench.Workloads[name]
	if !ok {
		fmt.Fprintf(stderr, "sluice bench: unknown workload %q (want one of %s, or nexmark --query qN)\n", name,
			strings.Join(append(bench.Names(), "recovery", "straggler", "latency"), ", "))
		return errUsage
	}
	if o.Rate == 0 {
		o.Rate = w.DefaultRate
	}
	if *listen != "" {
		o.Context = append(o.Context, sluice.Listen(*listen))
	}
	switch {
	case *straggler >= 0 && *stall:
		o.Context = append(o.Context, sluice.StalledWorker(*straggler))
	case *straggler >= 0:
		o.Context = append(o.Context, sluice.Straggler(*straggler, *slowdown))
	}
	o.NoBaseline = !*baseline
	if !*speculation {
		o.Context = append(o.Context, sluice.NoSpeculation())
	}
	if !*exclusion {
		o.Context = append(o.Context, sluice.WorkerExclusion(0, 0))
	}
	st := startStatus(stdout, stderr)
	defer st.close()
	if !*asJSON {
		fmt.Fprintf(st.stdout, "sluice bench %s: master %s, batch %v, %d records/s for %v\n", w.Name, o.Master, o.Batch, o.Rate, o.Duration)
	}
	var report func(sluice.BatchInfo) // to --progress-fd
	if *progressFD > 0 && !sluice.IsWorker() {
		write, done, err := batchWriter(*progressFD)
		if err != nil {
			return fmt.Errorf("sluice bench: %w", err)
		}
		defer done()
		report = write
	}
	var begin sync.Once // the status starts with the first batch, after the workers' start
	o.Progress = func(b sluice.BatchInfo) {
		begin.Do(func() {
			st.Begin(progress.Phase{Label: "bench " + w.Name, Total: int(o.Duration / o.Batch), Interval: o.Batch})
		})
		st.Observe(batchOf(b))
		if report != nil {
			report(b)
		}
		if !*asJSON {
			fmt.Fprintf(st.stdout, "  batch %s: %d records, processing %v, total delay %v\n", b.Time.Format("15:04:05"),
				b.Records, b.ProcessingTime.Round(time.Millisecond), b.TotalDelay.Round(time.Millisecond))
		}
	}
	if *cpuProfile != "" && !sluice.IsWorker() {
		o.Context = append(o.Context, sluice.WorkerCPUProfile(*cpuProfile))
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := bench.Run(ctx, w, o)
	st.close()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(r)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
