// Package chaos breaks a running Sluice job on purpose and checks that it
// did not matter: `sluice chaos` runs a stateful job on local-cluster over
// the replayable generator, kills worker processes with SIGKILL at random
// and the driver once (then restarts it, resuming from its checkpoint),
// then runs the same input without failures and compares every output
// record by record. The input is the replayable generator, or (--source
// kafka, --source nats) a Kafka topic or a NATS JetStream stream filled
// ahead of the job's clock and read by time; the outputs go to the file
// sink, or (--sink kafka) to Kafka topics through the transactional sink,
// or (--sink nats) to NATS subjects through the deduplicating JetStream
// sink (see kinds.go and nats.go).
//
// The job (Build) keeps running word counts (UpdateStateByKey), windowed
// counts (an incremental ReduceByKeyAndWindow), first-seen batches
// (MapWithState) and a record count per window (CountByWindow), and writes
// them to the exactly-once file sink (and, with a PostgreSQL URL, the
// running counts to PostgreSQL too). Each record carries its batch time, so
// that outputs compare batch by batch.
package chaos

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sink/postgres"
)

// Rec is one output record: its batch (Unix ms), a key and a value.
type Rec struct {
	Batch int64  `json:"b"`
	Key   string `json:"k"`
	Value int64  `json:"v"`
}

// Outputs are the job's output names.
var Outputs = []string{"totals", "window", "firsts", "count"}

// JobConfig configures the job.
type JobConfig struct {
	// Out is the file sink's directory.
	Out  string
	Rate int
	Seed uint64
	// Postgres, if set, is a database the running totals are also
	// written to, into Table.
	Postgres, Table string
	// Source and Sink are the kinds of input and outputs (see
	// SourceKinds and SinkKinds; "": gen and file); Brokers the Kafka
	// peer's addresses, comma-separated, for the Kafka kinds; NATS the
	// NATS peer's URL, for the NATS kinds.
	Source, Sink, Brokers, NATS string
	// CheckpointInterval, if set, is how often the state is checkpointed
	// (rounded up to a multiple of each operator's slide); by default
	// the engine's (sluice.DefaultCheckpointInterval).
	CheckpointInterval time.Duration
}

// every is the CheckpointInterval option of an operator of the given
// slide: cfg's interval rounded up to a multiple of it.
func (cfg JobConfig) every(slide time.Duration) sluice.OpOption {
	if cfg.CheckpointInterval <= 0 {
		return nil
	}
	return sluice.CheckpointInterval((cfg.CheckpointInterval + slide - 1) / slide * slide)
}

// sampled keeps about one word in sixteen, so that outputs stay small
// while every stateful operator works on the whole vocabulary.
func sampled(w string) bool {
	h := fnv.New32a()
	h.Write([]byte(w))
	return h.Sum32()%16 == 0
}

// withBatch turns a keyed stream into records that carry their batch.
func withBatch[V int | int64](s *sluice.Stream[sluice.KV[string, V]]) *sluice.Stream[Rec] {
	return sluice.Transform(s, func(d sluice.Dataset[sluice.KV[string, V]], t time.Time) sluice.Dataset[Rec] {
		ms := t.UnixMilli()
		return dataset.Map(d, func(kv sluice.KV[string, V]) Rec { return Rec{ms, kv.Key, int64(kv.Value)} })
	})
}

// Build builds the job on c.
func Build(c *sluice.Context, cfg JobConfig) {
	text := sources[cmp.Or(cfg.Source, "gen")].text(c, cfg)
	words := sluice.FlatMap(text, strings.Fields)
	ones := sluice.Map(words, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	add := func(a, b int) int { return a + b }

	totals := sluice.UpdateStateByKey(ones, func(_ string, vs []int, s int, _ bool) (int, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}, sluice.Named("totals"), cfg.every(c.BatchInterval()))
	window := sluice.ReduceByKeyAndWindow(ones, add, func(a, b int) int { return a - b }, 10*c.BatchInterval(), 2*c.BatchInterval(),
		sluice.Named("window"), cfg.every(2*c.BatchInterval()))
	firsts, _ := sluice.MapWithState(ones, func(t time.Time, w string, _ sluice.Optional[int], st *sluice.State[int64]) (sluice.KV[string, int64], bool) {
		first, ok := st.Get()
		if !ok {
			first = t.UnixMilli()
			st.Update(first)
		}
		return sluice.Pair(w, first), true
	}, sluice.Named("firsts"), cfg.every(c.BatchInterval()))
	counts := sluice.CountByWindow(text, 5*c.BatchInterval(), c.BatchInterval())

	keep := func(kv sluice.KV[string, int]) bool { return sampled(kv.Key) }
	out := map[string]*sluice.Stream[Rec]{
		"totals": withBatch(sluice.Filter(totals, keep)),
		"window": withBatch(sluice.Filter(window, keep)),
		"firsts": withBatch(sluice.Filter(firsts, func(kv sluice.KV[string, int64]) bool { return sampled(kv.Key) })),
		"count": sluice.Transform(counts, func(d sluice.Dataset[int64], t time.Time) sluice.Dataset[Rec] {
			ms := t.UnixMilli()
			return dataset.Map(d, func(n int64) Rec { return Rec{ms, "records", n} })
		}),
	}
	kind := sinks[cmp.Or(cfg.Sink, "file")]
	for _, name := range Outputs {
		sluice.WriteTo(out[name], kind.sink(cfg, name), sluice.Named(name))
	}
	if cfg.Postgres != "" {
		pg := postgres.New[Rec](cfg.Postgres, cfg.Table, []string{"batch_ms", "key", "value"},
			func(r Rec) []any { return []any{r.Batch, r.Key, r.Value} })
		sluice.WriteTo(out["totals"], sluice.Sink[Rec](pg), sluice.Named("totals-pg"))
	}
}

// jobFlags is the job's command line.
type jobFlags struct {
	sluice.Flags
	dir       string
	batches   int
	jobConfig JobConfig
	// keep, if set, keeps the number of worker processes (see keepWorkers).
	keep int
}

// parseJob parses the job's command line.
func parseJob(args []string, stderr io.Writer) (*jobFlags, error) {
	fs := flag.NewFlagSet("sluice chaos job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var j jobFlags
	j.Register(fs)
	fs.StringVar(&j.dir, "dir", "", "working directory: checkpoint, output and batch log")
	fs.IntVar(&j.jobConfig.Rate, "rate", 20000, "records per second")
	fs.Uint64Var(&j.jobConfig.Seed, "seed", 1, "the generator's seed")
	fs.IntVar(&j.batches, "batches", 60, "stop after this many batches")
	fs.IntVar(&j.keep, "keep-workers", 0, "start new worker processes to keep this many (drained workers leave for good; 0: do not)")
	fs.StringVar(&j.jobConfig.Postgres, "postgres", "", "PostgreSQL URL to write the running totals to")
	fs.StringVar(&j.jobConfig.Table, "table", "", "the PostgreSQL table")
	fs.DurationVar(&j.jobConfig.CheckpointInterval, "checkpoint-interval", 0,
		"checkpoint the state this often (rounded up to each operator's slide; 0: the engine's default, 10s)")
	fs.StringVar(&j.jobConfig.Source, "source", "gen", "the input: "+SourceKinds())
	fs.StringVar(&j.jobConfig.Sink, "sink", "file", "where the outputs go: "+SinkKinds())
	fs.StringVar(&j.jobConfig.Brokers, "kafka-brokers", "", "the Kafka cluster's addresses, comma-separated (a Kafka source or sink)")
	fs.StringVar(&j.jobConfig.NATS, "nats-url", "", "the NATS server's URL (a NATS source or sink)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkKinds(j.jobConfig.Source, j.jobConfig.Sink); err != nil {
		return nil, err
	}
	if j.dir == "" {
		return nil, fmt.Errorf("chaos job: --dir is required")
	}
	j.jobConfig.Out = filepath.Join(j.dir, "out")
	return &j, nil
}

// noBackpressure is in the options of both runs that chaos compares. With
// backpressure on, the job would still be exactly-once: each batch's range
// of the generator is fixed when it is planned and recorded in the
// metadata checkpoint, recomputations read that range again, and a
// restarted driver plans its incomplete batches with their recorded
// ranges and goes on from the end of the last one. But where the stream is
// cut into batches would then depend on timing: the run under failures
// (wall clock, batches slowed by the kills) would hold records back that
// the reference (a fast clock: no processing time, so never a limit) puts
// in earlier batches, and the outputs, compared batch by batch, would
// differ though neither lost nor repeated a record.
var noBackpressure = sluice.NoBackpressure()

// ProgramName is the name the job records in its checkpoints (see
// sluice.Program), with its arguments: JobBuilder rebuilds it from them.
const ProgramName = "chaos job"

// JobBuilder returns the build function of the job that `sluice chaos
// job` runs with args (for `sluice replay`).
func JobBuilder(args []string) (func(*sluice.Context), error) {
	j, err := parseJob(args, io.Discard)
	if err != nil {
		return nil, err
	}
	return func(c *sluice.Context) { Build(c, j.jobConfig) }, nil
}

// RunJob is the job's process (`sluice chaos job`), on the driver and, with
// the same arguments, on its workers: it resumes from DIR's checkpoint if
// there is one, and stops gracefully once batch --batches completed.
func RunJob(ctx context.Context, args []string, stderr io.Writer) error {
	j, err := parseJob(args, stderr)
	if err != nil {
		return err
	}
	opts := append([]sluice.Option{sluice.Master("local-cluster[4]"), sluice.Program(ProgramName, args...), noBackpressure}, j.Options()...)
	return runJobProcess(ctx, j.dir, j.batches, opts, nil, func(c *sluice.Context) { Build(c, j.jobConfig) }, j.keep)
}
