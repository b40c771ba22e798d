// Package bench holds Sluice's benchmark workloads (DESIGN.md section 11)
// and the runner behind `sluice bench`.
//
// A workload builds a job over a seeded generator; the runner runs it on
// the wall clock at a fixed input rate and reports the figures every
// `sluice bench` prints as JSON, with those of the workload's
// single-threaded baseline over the same input. The workloads:
//
//   - grep, wordcount, topk: the D-Streams paper's three, over 100-byte
//     text lines.
//   - nexmark-q0, -q1, -q2, -q3, -q12: Nexmark queries over
//     bench/nexmark's events, as nexmark-flink's SQL defines them,
//     adapted to batches (`sluice bench nexmark --query qN`). q0 passes
//     every event through; q1 converts the bids' prices to euros; q2
//     selects the bids on auctions whose id is a multiple of 123; q3 joins
//     the people of Oregon, Idaho and California with the category-10
//     auctions they sell, incrementally, each match in the batch in which
//     its second side arrives (its state grows without bound, as
//     Flink's); q12 counts each bidder's bids in 10 s tumbling windows of
//     batch time (processing time).
package bench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Workload is a benchmark job and its COST baseline (DESIGN.md section
// 11): a competent hand-written single-threaded program over the same
// generated input that computes the same results.
type Workload struct {
	Name        string
	Description string
	// DefaultRate is the input rate used when none is given.
	DefaultRate int
	// Build builds the job on c over an input of rate records/s made
	// with seed; each batch's results go to out, or with a nil out are
	// computed and dropped (see Emit).
	Build func(c *sluice.Context, seed uint64, rate int, out *Output)
	// Baseline returns the single-threaded program over in: a function
	// that processes batch k, called for k = 0, 1, 2, … in order, and
	// adds its results to out unless out is nil. Its results must equal
	// Build's, batch by batch.
	Baseline func(in Input) func(k int64, out *Output)
	// TestRate and TestBatches size the correctness test's input (the
	// test suite compares Build's results with Baseline's); TestBatch is
	// its batch interval (default 1s).
	TestRate, TestBatches int
	TestBatch             time.Duration
	// WindowLatency says Build writes event-time windows with
	// EmitWindows: a benchmark run then measures their latency (see
	// Result.WindowLatencyMsP50).
	WindowLatency bool
}

// Workloads lists the workloads by name.
var Workloads = map[string]Workload{
	"grep": {Name: "grep", DefaultRate: 1_000_000,
		Description: "count the 100-byte records containing a 3-letter pattern (about 0.1% match)",
		Build:       buildGrep, Baseline: grepBaseline, TestRate: 20_000, TestBatches: 5},
	"wordcount": {Name: "wordcount", DefaultRate: 400_000,
		Description: "word counts over a 30 s window sliding every 1 s (incremental)",
		Build:       buildWordCount, Baseline: wordCountBaseline, TestRate: 1000, TestBatches: 40},
	"topk": {Name: "topk", DefaultRate: 400_000,
		Description: "the 10 most frequent words over a 30 s window",
		Build:       buildTopK, Baseline: topKBaseline, TestRate: 1000, TestBatches: 40},
	// The Nexmark queries' default rates are what local[*] on the 2-core
	// benchmark machine (BENCHMARKS.md) kept up with in 1 s batches while
	// other jobs shared it.
	"nexmark-q0": {Name: "nexmark-q0", DefaultRate: 800_000,
		Description: "Nexmark q0: pass every event through",
		Build:       buildNexmarkQ0, Baseline: nexmarkQ0Baseline, TestRate: 2000, TestBatches: 3},
	"nexmark-q1": {Name: "nexmark-q1", DefaultRate: 1_000_000,
		Description: "Nexmark q1: every bid with its price in euros",
		Build:       buildNexmarkQ1, Baseline: nexmarkQ1Baseline, TestRate: 2000, TestBatches: 3},
	"nexmark-q2": {Name: "nexmark-q2", DefaultRate: 1_000_000,
		Description: "Nexmark q2: the bids on auctions whose id is a multiple of 123",
		Build:       buildNexmarkQ2, Baseline: nexmarkQ2Baseline, TestRate: 20_000, TestBatches: 5},
	"nexmark-q3": {Name: "nexmark-q3", DefaultRate: 800_000,
		Description: "Nexmark q3: people of OR, ID and CA joined with the category-10 auctions they sell (incremental)",
		Build:       buildNexmarkQ3, Baseline: nexmarkQ3Baseline, TestRate: 1000, TestBatches: 100, TestBatch: 100 * time.Millisecond},
	"nexmark-q12": {Name: "nexmark-q12", DefaultRate: 1_000_000,
		Description: "Nexmark q12: bids per bidder in 10 s tumbling windows of batch time",
		Build:       buildNexmarkQ12, Baseline: nexmarkQ12Baseline, TestRate: 1000, TestBatches: 9, TestBatch: 3 * time.Second},
	"nexmark-q4": {Name: "nexmark-q4", DefaultRate: 600_000,
		Description: "Nexmark q4: the average winning price of the closed auctions per category",
		Build:       buildNexmarkQ4, Baseline: nexmarkQ4Baseline, TestRate: 2000, TestBatches: 20},
	"nexmark-q5": {Name: "nexmark-q5", DefaultRate: 500_000,
		Description: "Nexmark q5: the auctions with the most bids in 10 s event-time windows sliding every 2 s",
		Build:       buildNexmarkQ5, Baseline: nexmarkQ5Baseline, TestRate: 2000, TestBatches: 25},
	"nexmark-q7": {Name: "nexmark-q7", DefaultRate: 600_000,
		Description: "Nexmark q7: the highest bids of 10 s tumbling event-time windows",
		Build:       buildNexmarkQ7, Baseline: nexmarkQ7Baseline, TestRate: 2000, TestBatches: 35},
	"nexmark-q8": {Name: "nexmark-q8", DefaultRate: 600_000,
		Description: "Nexmark q8: people who registered and sold in the same 10 s tumbling event-time window",
		Build:       buildNexmarkQ8, Baseline: nexmarkQ8Baseline, TestRate: 2000, TestBatches: 25},
	"ysb": {Name: "ysb", DefaultRate: 2_000_000,
		Description: "Yahoo streaming benchmark: JSON ad events, views joined to campaigns, counted in 10 s event-time windows",
		Build:       buildYSB, Baseline: ysbBaseline, TestRate: 3000, TestBatches: 25, WindowLatency: true},
}

// Names returns the workload names, sorted.
func Names() []string {
	var out []string
	for n := range Workloads {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TopK returns the k records with the highest values (ties by key), sorted.
func TopK(in []sluice.KV[string, int64], k int) []sluice.KV[string, int64] {
	out := append([]sluice.KV[string, int64](nil), in...)
	sort.Slice(out, func(a, b int) bool { return better(out[a], out[b]) })
	return out[:min(k, len(out))]
}

// Options configures a benchmark run.
type Options struct {
	Master   string
	Batch    time.Duration
	Rate     int
	Duration time.Duration
	Seed     uint64
	// Warmup batches are run but not measured.
	Warmup int
	// Progress, if set, is called after every batch.
	Progress func(sluice.BatchInfo)
	// Context options, added to the benchmark's own.
	Context []sluice.Option
	// NoBaseline skips the single-threaded baseline (its figures are
	// then 0).
	NoBaseline bool
}

// Result is what `sluice bench --json` prints.
type Result struct {
	Workload             string  `json:"workload"`
	Master               string  `json:"master"`
	BatchMS              int64   `json:"batch_ms"`
	InputRate            int     `json:"input_rate"`
	Batches              int     `json:"batches"`
	Records              int64   `json:"records"`
	RecordsPerSec        float64 `json:"records_per_sec"`
	RecordsPerSecPerCore float64 `json:"records_per_sec_per_core"`
	ProcessingMsP50      float64 `json:"processing_ms_p50"`
	ProcessingMsP99      float64 `json:"processing_ms_p99"`
	TotalDelayMsP99      float64 `json:"total_delay_ms_p99"`
	ProcessingMsP90      float64 `json:"processing_ms_p90"`
	TotalDelayMsMax      float64 `json:"total_delay_ms_max"`
	// EndToEnd is the delay from a record's generation to its batch's
	// results being written (see EndToEndPercentile).
	EndToEndMsP50 float64 `json:"end_to_end_ms_p50"`
	EndToEndMsP99 float64 `json:"end_to_end_ms_p99"`
	Cores         int     `json:"cores"`
	KeptUp        bool    `json:"kept_up"`
	// Speculative copies launched and won, and worker exclusions, over
	// the whole run (warm-up included).
	SpeculativeLaunched int `json:"speculative_launched"`
	SpeculativeWon      int `json:"speculative_won"`
	Exclusions          int `json:"exclusions"`
	// BaselineRecordsPerSec is the single-threaded baseline's throughput
	// over the same batches (see RunBaseline); CostRatio is
	// RecordsPerSec (on all the cores) divided by it: COST's measure,
	// above 1 when Sluice beats one competent thread.
	BaselineRecordsPerSec float64 `json:"baseline_records_per_sec"`
	CostRatio             float64 `json:"cost_ratio"`
	// WindowLatency, for a workload with Workload.WindowLatency, is the
	// delay from an event-time window's end to its result being written
	// (the Yahoo streaming benchmark's latency), over the results of the
	// measured batches: WindowResults of them.
	WindowLatencyMsP50 float64 `json:"window_latency_ms_p50,omitempty"`
	WindowLatencyMsP99 float64 `json:"window_latency_ms_p99,omitempty"`
	WindowResults      int     `json:"window_results,omitempty"`
}

// Run runs a workload and measures it. records_per_sec is the processing
// capacity: the records of the measured batches divided by the time spent
// processing them; kept_up says whether every measured batch was
// processed within the batch interval.
func Run(ctx context.Context, w Workload, o Options) (Result, error) {
	workers, err := sluice.ParseMaster(o.Master)
	if err != nil {
		return Result{}, err
	}
	var mu sync.Mutex
	var infos []sluice.BatchInfo
	var c *sluice.Context
	var last sluice.Status
	// A benchmark measures the processing of a fixed input rate: no
	// backpressure (o.Context may turn it on again).
	opts := append([]sluice.Option{sluice.Master(o.Master), sluice.Batch(o.Batch), sluice.NoBackpressure(), sluice.OnBatch(func(b sluice.BatchInfo) {
		st := c.Status()
		mu.Lock()
		infos = append(infos, b)
		last = st
		mu.Unlock()
		if o.Progress != nil {
			o.Progress(b)
		}
	})}, o.Context...)
	c, err = sluice.NewContext(opts...)
	if err != nil {
		return Result{}, err
	}
	var out *Output // a benchmark run's: nil, or one that measures window latencies
	if w.WindowLatency {
		out = newLatencyOutput()
	}
	w.Build(c, o.Seed, o.Rate, out)
	if err := sluice.RunUntilDone(ctx, c, o.Duration); err != nil {
		return Result{}, err
	}
	mu.Lock()
	infos, st := slices.Clone(infos), last
	mu.Unlock()
	if len(infos) <= o.Warmup {
		return Result{}, fmt.Errorf("bench: only %d batches ran; run longer than %d warm-up batches", len(infos), o.Warmup)
	}
	r := summarize(w.Name, o, min(workers, runtime.NumCPU()), infos[o.Warmup:])
	r.SpeculativeLaunched, r.SpeculativeWon, r.Exclusions = st.SpeculativeLaunched, st.SpeculativeWon, st.Exclusions
	if lat := out.windowLatencyMs(infos[o.Warmup].Time); len(lat) > 0 {
		r.WindowLatencyMsP50, r.WindowLatencyMsP99, r.WindowResults = Percentile(lat, 50), Percentile(lat, 99), len(lat)
	}
	if !o.NoBaseline {
		in := Input{Seed: o.Seed, Rate: o.Rate, Batch: o.Batch, Zero: baselineZero}
		r.BaselineRecordsPerSec = RunBaseline(ctx, w, in, o.Warmup, len(infos))
		if r.BaselineRecordsPerSec > 0 {
			r.CostRatio = r.RecordsPerSec / r.BaselineRecordsPerSec
		}
	}
	return r, nil
}

// baselineZero is the baseline's batch 0: any time will do, as Sluice's
// and the baseline's results differ only in the batch times; an aligned
// one keeps event-time windows aligned with batches, as they mostly are.
var baselineZero = time.Unix(1_800_000_000, 0)

// RunBaseline runs w's single-threaded baseline over batches [0, n) of in
// and returns its throughput in records/s over batches [warmup, n) (0 if
// there are none, or ctx ends first).
func RunBaseline(ctx context.Context, w Workload, in Input, warmup, n int) float64 {
	step := w.Baseline(in)
	var records int64
	var took time.Duration
	for k := range int64(n) {
		if ctx.Err() != nil {
			return 0
		}
		start := time.Now()
		step(k, nil)
		if k >= int64(warmup) {
			took += time.Since(start)
			from, to, _, _ := in.Range(k)
			records += to - from
		}
	}
	if took <= 0 {
		return 0
	}
	return float64(records) / took.Seconds()
}

func summarize(name string, o Options, cores int, infos []sluice.BatchInfo) Result {
	r := Result{Workload: name, Master: o.Master, BatchMS: o.Batch.Milliseconds(), InputRate: o.Rate,
		Batches: len(infos), Cores: cores, KeptUp: true}
	var proc, total []float64
	var busy time.Duration
	for _, b := range infos {
		r.Records += b.Records
		busy += b.ProcessingTime
		proc = append(proc, ms(b.ProcessingTime))
		total = append(total, ms(b.TotalDelay))
		if b.ProcessingTime > o.Batch {
			r.KeptUp = false
		}
	}
	if busy > 0 {
		r.RecordsPerSec = float64(r.Records) / busy.Seconds()
		r.RecordsPerSecPerCore = r.RecordsPerSec / float64(cores)
	}
	r.ProcessingMsP50 = Percentile(proc, 50)
	r.ProcessingMsP99 = Percentile(proc, 99)
	r.TotalDelayMsP99 = Percentile(total, 99)
	r.ProcessingMsP90 = Percentile(proc, 90)
	r.TotalDelayMsMax = Percentile(total, 100)
	r.EndToEndMsP50 = EndToEndPercentile(infos, o.Batch, 50)
	r.EndToEndMsP99 = EndToEndPercentile(infos, o.Batch, 99)
	return r
}

// EndToEndPercentile returns the p-th percentile, in milliseconds, of the
// delay from a record's generation to its batch's results being written,
// over the records of the batches. The generator spreads a batch's
// records evenly over its interval [t−batch, t) (their event times: when
// they were generated), and the batch's results are written at t plus its
// total delay; so a batch's records' delays spread evenly over (total
// delay, total delay + batch]. The percentile is that of the mixture,
// each batch weighted by its records, found by bisection on its
// distribution function.
func EndToEndPercentile(infos []sluice.BatchInfo, batch time.Duration, p float64) float64 {
	var n float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range infos {
		if b.Records > 0 {
			n += float64(b.Records)
			lo, hi = min(lo, ms(b.TotalDelay)), max(hi, ms(b.TotalDelay)+ms(batch))
		}
	}
	if n == 0 || batch <= 0 {
		return 0
	}
	width := ms(batch)
	below := func(x float64) float64 { // share of the records with a delay ≤ x
		var k float64
		for _, b := range infos {
			if b.Records > 0 {
				k += float64(b.Records) * min(max((x-ms(b.TotalDelay))/width, 0), 1)
			}
		}
		return k / n
	}
	for range 60 {
		mid := (lo + hi) / 2
		if below(mid) >= p/100 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Percentile returns the p-th percentile (nearest rank) of xs.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
