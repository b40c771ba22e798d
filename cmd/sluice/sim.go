package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/simchart"
)

const simUsage = `usage: sluice sim <recovery|stragglers> [flags]

Runs the simulator (internal/sim): the real scheduler with virtual workers,
a virtual clock and a cost model, on clusters far larger than this machine.

  recovery    recovery time after a node failure against load, parallel recovery
              against upstream backup, for each cluster size
  stragglers  batch processing time with straggling nodes, speculation off and on

Run 'sluice sim <command> --help' for its flags.
`

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, simUsage)
		return errUsage
	}
	switch args[0] {
	case "recovery":
		return runSimRecovery(ctx, args[1:], stdout, stderr)
	case "stragglers":
		return runSimStragglers(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "sluice sim: unknown simulation %q\n\n%s", args[0], simUsage)
	return errUsage
}

// simRecoveryResult is what `sluice sim recovery --json` prints.
type simRecoveryResult struct {
	Seed            int64      `json:"seed"`
	Nodes           []int      `json:"nodes"`
	Loads           []float64  `json:"loads"`
	CheckpointEvery int        `json:"checkpoint_every"`
	BatchS          float64    `json:"batch_s"`
	Parallel        []simPoint `json:"parallel"`
	UpstreamBackup  []simPoint `json:"upstream_backup"`
}

// simPoint is one run of the recovery sweep (see sim.Result).
type simPoint struct {
	Nodes         int     `json:"nodes"`
	Load          float64 `json:"load"`
	RecoveryS     float64 `json:"recovery_s"` // -1: not within the run
	RebuiltAfterS float64 `json:"rebuilt_after_s"`
	LostBatches   int     `json:"lost_batches"`
	RecoveryTasks int     `json:"recovery_tasks"`
	// RecoveryChains (parallel recovery): the recovery tasks that each
	// rebuild one state partition, a reduce step per lost batch in turn.
	RecoveryChains int     `json:"recovery_chains"`
	TasksPerBatch  int     `json:"tasks_per_batch"`
	P50S           float64 `json:"p50_s"`
	MaxS           float64 `json:"max_s"`
	Batches        int     `json:"batches"`
	// Events handled by the simulator, for the run with the failure and
	// the run it is measured against together.
	Events int `json:"events"`
}

func newSimPoint(r sim.Result) simPoint {
	return simPoint{Nodes: r.Nodes, Load: r.Load, RecoveryS: micro(r.Recovery), RebuiltAfterS: micro(r.RebuiltAt),
		LostBatches: r.Lost, RecoveryTasks: r.RecTasks, RecoveryChains: r.Chains, TasksPerBatch: r.TasksPerBatch,
		P50S: micro(r.P50), MaxS: micro(r.Max), Batches: len(r.Processing), Events: r.Events}
}

// micro rounds seconds to microseconds, for JSON people read.
func micro(s float64) float64 { return math.Round(s*1e6) / 1e6 }

func runSimRecovery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice sim recovery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodesFlag := fs.String("nodes", "5,10,20,100,1000", "cluster sizes, a comma-separated list")
	loadsFlag := fs.String("loads", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "loads before the failure (share of the cluster's capacity), a comma-separated list")
	seed := fs.Int64("seed", 1, "seed of every random draw (same seed, same figures)")
	every := fs.Int("checkpoint-every", 10, "batches between state checkpoints")
	batch := fs.Duration("batch", time.Second, "batch interval")
	par := fs.Int("parallel", goruntime.GOMAXPROCS(0), "simulations run at once")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	chart := fs.String("chart", "", "write a chart of recovery time against load to this file (.svg or .png)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice sim recovery [flags]\n\n"+
			"For every cluster size and load, simulates a node failing half a batch before a checkpoint\n"+
			"(the most state lost) and measures the recovery time, from the failure until the lost state\n"+
			"is rebuilt and no batch is late any more, under parallel recovery (the lost map tasks\n"+
			"recomputed on every node left, then each lost state partition's chain of reduce steps, one\n"+
			"per lost batch, the chains in parallel) and upstream backup (an idle standby replays the\n"+
			"failed node's work serially, then takes its share of each new batch). Checkpoints are\n"+
			"asynchronous and cost nothing.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	nodes, err := intList(*nodesFlag)
	if err != nil {
		return fmt.Errorf("sluice sim recovery: %w", err)
	}
	loads, err := floatList(*loadsFlag)
	if err != nil {
		return fmt.Errorf("sluice sim recovery: %w", err)
	}
	if *every < 1 || *batch <= 0 {
		return fmt.Errorf("sluice sim recovery: --checkpoint-every and --batch must be positive")
	}
	base := sim.Config{Seed: *seed, CheckpointEvery: *every, BatchInterval: *batch}
	res := simRecoveryResult{Seed: *seed, Nodes: nodes, Loads: loads, CheckpointEvery: *every, BatchS: batch.Seconds()}
	models := []sim.Model{sim.Parallel, sim.UpstreamBackup}
	runs, err := simGrid(ctx, base, nodes, loads, models, max(*par, 1))
	if err != nil {
		return fmt.Errorf("sluice sim recovery: %w", err)
	}
	for _, r := range runs[0] {
		res.Parallel = append(res.Parallel, newSimPoint(r))
	}
	for _, r := range runs[1] {
		res.UpstreamBackup = append(res.UpstreamBackup, newSimPoint(r))
	}
	if *chart != "" {
		p, err := simchart.Recovery(runs[0], runs[1])
		if err == nil {
			err = simchart.Save(p, *chart)
		}
		if err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printSimRecovery(stdout, res)
	return nil
}

// simGrid runs sim.Recovery for every model, cluster size and load, par
// runs at a time (each run is deterministic, so the order they run in
// does not matter), and returns the results per model, nodes outer.
func simGrid(ctx context.Context, base sim.Config, nodes []int, loads []float64, models []sim.Model, par int) ([][]sim.Result, error) {
	type job struct{ m, i int }
	out := make([][]sim.Result, len(models))
	errs := make([]error, len(models)*len(nodes)*len(loads))
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				n, l := nodes[j.i/len(loads)], loads[j.i%len(loads)]
				rs, err := sim.Recovery(base, []int{n}, []float64{l}, models[j.m])
				if err != nil {
					errs[j.m*len(nodes)*len(loads)+j.i] = err
					continue
				}
				out[j.m][j.i] = rs[0]
			}
		}()
	}
	for m := range models {
		out[m] = make([]sim.Result, len(nodes)*len(loads))
	}
	// The largest clusters first, so that the longest runs do not come last.
feed:
	for i := len(nodes)*len(loads) - 1; i >= 0; i-- {
		for m := range models {
			select {
			case jobs <- job{m, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, ctx.Err()
}

func printSimRecovery(w io.Writer, res simRecoveryResult) {
	fmt.Fprintf(w, "sluice sim recovery: a node fails half a batch before a checkpoint (every %d batches of %gs), seed %d\n",
		res.CheckpointEvery, res.BatchS, res.Seed)
	fmt.Fprintf(w, "recovery time in seconds (\"never\": not within the run)\n")
	for _, m := range []struct {
		name string
		pts  []simPoint
	}{{"parallel recovery", res.Parallel}, {"upstream backup", res.UpstreamBackup}} {
		fmt.Fprintf(w, "\n%s\n", m.name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "load\t")
		for _, n := range res.Nodes {
			fmt.Fprintf(tw, "%d nodes\t", n)
		}
		fmt.Fprintln(tw)
		for li, l := range res.Loads {
			fmt.Fprintf(tw, "%.2g\t", l)
			for ni := range res.Nodes {
				fmt.Fprintf(tw, "%s\t", secondsOrNever(m.pts[ni*len(res.Loads)+li].RecoveryS))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
}

func secondsOrNever(s float64) string {
	if s < 0 {
		return "never"
	}
	return strconv.FormatFloat(s, 'f', 2, 64)
}

// simStragglersResult is what `sluice sim stragglers --json` prints.
type simStragglersResult struct {
	Seed     int64          `json:"seed"`
	Nodes    int            `json:"nodes"`
	Load     float64        `json:"load"`
	Slowdown float64        `json:"slowdown"`
	Runs     []simStraggler `json:"runs"`
}

type simStraggler struct {
	Stragglers  int     `json:"stragglers"`
	Speculation bool    `json:"speculation"`
	P50S        float64 `json:"p50_s"`
	P90S        float64 `json:"p90_s"`
	MaxS        float64 `json:"max_s"`
	Backups     int     `json:"backups"`
	BackupsWon  int     `json:"backups_won"`
	Exclusions  int     `json:"exclusions"`
}

func runSimStragglers(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice sim stragglers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 20, "cluster size")
	counts := fs.String("stragglers", "0,1,2,4", "straggling nodes, a comma-separated list")
	slowdown := fs.Float64("slowdown", 4, "how many times as long a straggler's tasks take")
	load := fs.Float64("load", 0.5, "load (share of the cluster's capacity)")
	batches := fs.Int("batches", 30, "batches per run")
	seed := fs.Int64("seed", 1, "seed of every random draw (same seed, same figures)")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	chart := fs.String("chart", "", "write a chart of batch processing time against stragglers to this file (.svg or .png)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice sim stragglers [flags]\n\n"+
			"For every count of straggling nodes, simulates batches with speculation off and on and\n"+
			"reports their processing times (median, 90th percentile, longest).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cs, err := countList(*counts)
	if err != nil {
		return fmt.Errorf("sluice sim stragglers: %w", err)
	}
	rs, err := sim.Stragglers(sim.Config{Seed: *seed, Nodes: *nodes, Load: *load, Batches: *batches,
		StragglerSlowdown: *slowdown}, cs)
	if err != nil {
		return fmt.Errorf("sluice sim stragglers: %w", err)
	}
	res := simStragglersResult{Seed: *seed, Nodes: *nodes, Load: *load, Slowdown: *slowdown}
	for _, r := range rs {
		res.Runs = append(res.Runs, simStraggler{Stragglers: r.Stragglers, Speculation: r.Speculation,
			P50S: micro(r.P50), P90S: micro(r.P90), MaxS: micro(r.Max), Backups: r.Backups, BackupsWon: r.BackupsWon, Exclusions: r.Exclusions})
	}
	if *chart != "" {
		p, err := simchart.Stragglers(rs)
		if err == nil {
			err = simchart.Save(p, *chart)
		}
		if err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "sluice sim stragglers: %d nodes at load %g, stragglers %gx slower, seed %d\n\n", *nodes, *load, *slowdown, *seed)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stragglers\tspeculation\tp50 s\tp90 s\tmax s\tbackups (won)\texclusions\t")
	for _, r := range res.Runs {
		spec := "off"
		if r.Speculation {
			spec = "on"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.3f\t%.3f\t%.3f\t%d (%d)\t%d\t\n", r.Stragglers, spec, r.P50S, r.P90S, r.MaxS, r.Backups, r.BackupsWon, r.Exclusions)
	}
	return tw.Flush()
}

func floatList(s string) ([]float64, error) {
	return listOf(s, "positive numbers", func(f string) (float64, error) { return strconv.ParseFloat(f, 64) },
		func(v float64) bool { return v > 0 })
}

// countList parses a list of counts, 0 allowed.
func countList(s string) ([]int, error) {
	return listOf(s, "counts", strconv.Atoi, func(n int) bool { return n >= 0 })
}
