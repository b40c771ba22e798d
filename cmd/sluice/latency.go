package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/bench"
	"github.com/sluicehq/sluice/internal/progress"
)

// latencyResult is what `sluice bench latency --json` prints.
type latencyResult struct {
	Workload  string            `json:"workload"`
	Master    string            `json:"master"`
	Cores     int               `json:"cores"`
	Intervals []latencyInterval `json:"intervals"`
	// BaselineRecordsPerSec is the workload's single-threaded COST
	// baseline (over 10 one-second batches at the start rate); each
	// interval's cost_ratio is its max_rate divided by it.
	BaselineRecordsPerSec float64 `json:"baseline_records_per_sec"`
}

// latencyInterval is one batch interval's figures: the highest input rate
// found to keep up, and the end-to-end delays measured at half of it.
type latencyInterval struct {
	BatchMS int64 `json:"batch_ms"`
	// MaxRate is the highest rate probed that kept up (records/s); Rate
	// the rate of the measurement, half of it.
	MaxRate int `json:"max_rate"`
	Rate    int `json:"rate"`
	// From the measurement at Rate: delay from a record's generation to
	// its batch's results (p50, p99), batch processing and total delay.
	EndToEndMsP50   float64 `json:"end_to_end_ms_p50"`
	EndToEndMsP99   float64 `json:"end_to_end_ms_p99"`
	ProcessingMsP50 float64 `json:"processing_ms_p50"`
	TotalDelayMsP99 float64 `json:"total_delay_ms_p99"`
	KeptUp          bool    `json:"kept_up"`
	CostRatio       float64 `json:"cost_ratio"`
	Probes          []probe `json:"probes"`
}

// probe is one run of the rate search.
type probe struct {
	Rate            int     `json:"rate"`
	KeptUp          bool    `json:"kept_up"`
	ProcessingMsP90 float64 `json:"processing_ms_p90"`
	TotalDelayMsMax float64 `json:"total_delay_ms_max"`
	ReadShare       float64 `json:"read_share"`
	// Error is why the run failed (it counts as not keeping up).
	Error string `json:"error,omitempty"`
}

// runBenchLatency runs `sluice bench latency`: for each batch interval, a
// search for the highest input rate that keeps up, then a measurement of
// the end-to-end delay at half that rate. Each run is a process of its own
// (benchProcess).
func runBenchLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("workload", "wordcount", "the workload (see sluice bench --help)")
	master := fs.String("master", "local[*]", "where to run: local[N], local[*] or local-cluster[N]")
	batches := fs.String("batches", "1s,500ms,200ms,100ms", "batch intervals, a comma-separated list")
	probeFor := fs.Duration("probe", 5*time.Second, "how long each run of the rate search lasts")
	measureFor := fs.Duration("measure", 10*time.Second, "how long the measurement at half the highest rate lasts")
	startRate := fs.Int("start-rate", 0, "the rate search's first rate (0: the workload's default rate)")
	steps := fs.Int("steps", 4, "bisection steps after the highest rate is bracketed")
	seed := fs.Uint64("seed", 1, "generator seed")
	verbose := fs.Bool("v", false, "show the runs' logs on standard error")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice bench latency [flags]\n\n"+
			"For each batch interval, finds the highest input rate that keeps up (the 90th percentile batch\n"+
			"processing time within the interval, no batch finishing more than three intervals late, and at\n"+
			"least 95%% of the input read), then measures at half that rate the delay from a record's\n"+
			"generation to its batch's results being written (p50, p99).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	w, ok := bench.Workloads[*workload]
	if !ok {
		return fmt.Errorf("sluice bench latency: unknown workload %q", *workload)
	}
	intervals, err := durationList(*batches)
	if err != nil {
		return fmt.Errorf("sluice bench latency: %w", err)
	}
	if *startRate <= 0 {
		*startRate = w.DefaultRate
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	st := startStatus(stdout, stderr)
	defer st.close()
	// run runs the workload for d after its warm-up; what is "probe" or
	// "measure", for the status.
	run := func(batch time.Duration, rate int, d time.Duration, what string) (bench.Result, error) {
		warmup := max(2, int(time.Second/batch))
		total := d + time.Duration(warmup)*batch
		args := []string{"bench", *workload, "--json", "--master", *master, "--batch", batch.String(),
			"--duration", total.String(), "--rate", strconv.Itoa(rate),
			"--seed", strconv.FormatUint(*seed, 10), "--warmup", strconv.Itoa(warmup), "--baseline=false"}
		st.Begin(progress.Phase{Label: fmt.Sprintf("latency %v, %s %d/s", batch, what, rate),
			Total: int(total / batch), Interval: batch})
		r, err := benchProcess(ctx, bin, args, *verbose, st)
		if err != nil {
			return bench.Result{}, fmt.Errorf("sluice bench latency: batch %v, rate %d: %w", batch, rate, err)
		}
		return r, nil
	}
	res := latencyResult{Workload: *workload, Master: *master, Cores: goruntime.NumCPU()}
	res.BaselineRecordsPerSec = bench.RunBaseline(ctx, w, bench.Input{Seed: *seed, Rate: *startRate, Batch: time.Second}, 2, 12)
	for _, batch := range intervals {
		li := latencyInterval{BatchMS: batch.Milliseconds()}
		try := func(rate int) (bool, error) {
			r, err := run(batch, rate, *probeFor, "probe")
			if err != nil {
				// A run that fails (one so far behind that fewer batches
				// than the warm-up ended, say) did not keep up; if no rate
				// does, the search ends with an error below.
				li.Probes = append(li.Probes, probe{Rate: rate, Error: err.Error()})
				fmt.Fprintf(st.stderr, "latency: batch %v, %d records/s: %v\n", batch, rate, err)
				return false, nil
			}
			p := probe{Rate: rate, ProcessingMsP90: r.ProcessingMsP90, TotalDelayMsMax: r.TotalDelayMsMax}
			if want := float64(rate) * batch.Seconds() * float64(r.Batches); want > 0 {
				p.ReadShare = float64(r.Records) / want
			}
			b := float64(batch.Milliseconds())
			p.KeptUp = r.ProcessingMsP90 <= b && r.TotalDelayMsMax <= 3*b && p.ReadShare >= 0.95
			li.Probes = append(li.Probes, p)
			fmt.Fprintf(st.stderr, "latency: batch %v, %d records/s: processing p90 %.0f ms, latest batch %.0f ms after its time, kept up %v\n",
				batch, rate, p.ProcessingMsP90, p.TotalDelayMsMax, p.KeptUp)
			return p.KeptUp, nil
		}
		// Bracket the highest rate that keeps up between good and bad,
		// then bisect (geometrically).
		good, bad := 0, 0
		rate := *startRate
		for i := 0; i < 12 && (good == 0 || bad == 0); i++ {
			ok, err := try(rate)
			if err != nil {
				return err
			}
			if ok {
				good, rate = rate, rate*2
			} else {
				bad, rate = rate, max(rate/2, 1)
			}
			if good != 0 && bad == 0 && rate > 1<<30 {
				break
			}
		}
		for i := 0; i < *steps && good != 0 && bad != 0; i++ {
			mid := int(math.Sqrt(float64(good) * float64(bad)))
			if mid <= good || mid >= bad {
				break
			}
			ok, err := try(mid)
			if err != nil {
				return err
			}
			if ok {
				good = mid
			} else {
				bad = mid
			}
		}
		if good == 0 {
			return fmt.Errorf("sluice bench latency: batch %v: no rate down to %d records/s kept up", batch, bad)
		}
		li.MaxRate, li.Rate = good, max(good/2, 1)
		r, err := run(batch, li.Rate, *measureFor, "measurement")
		if err != nil {
			return err
		}
		li.EndToEndMsP50, li.EndToEndMsP99 = r.EndToEndMsP50, r.EndToEndMsP99
		li.ProcessingMsP50, li.TotalDelayMsP99, li.KeptUp = r.ProcessingMsP50, r.TotalDelayMsP99, r.KeptUp
		if res.BaselineRecordsPerSec > 0 {
			li.CostRatio = float64(li.MaxRate) / res.BaselineRecordsPerSec
		}
		res.Intervals = append(res.Intervals, li)
	}
	st.close()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "sluice bench latency: %s on %s (%d cores)\n\n", res.Workload, res.Master, res.Cores)
	fmt.Fprintf(stdout, "  %8s  %14s  %14s  %16s  %16s  %15s\n", "batch", "max rate", "measured at", "end-to-end p50", "end-to-end p99", "processing p50")
	for _, li := range res.Intervals {
		fmt.Fprintf(stdout, "  %8v  %12d/s  %12d/s  %13.0f ms  %13.0f ms  %12.0f ms\n", time.Duration(li.BatchMS)*time.Millisecond,
			li.MaxRate, li.Rate, li.EndToEndMsP50, li.EndToEndMsP99, li.ProcessingMsP50)
	}
	return nil
}
