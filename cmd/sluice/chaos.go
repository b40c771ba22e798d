package main

import (
	"context"
	"crypto/rand"
	encbin "encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluicehq/sluice/internal/chaos"
)

// runChaos runs the chaos test (see package chaos), or, as `sluice chaos
// job`, the job it breaks (on the driver and its workers).
func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "job" {
		return chaos.RunJob(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("sluice chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := chaos.Config{Log: stderr}
	fs.IntVar(&cfg.Workers, "workers", 4, "worker processes (local-cluster)")
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "length of the job (its number of batches is duration/batch)")
	fs.DurationVar(&cfg.Batch, "batch", time.Second, "batch interval")
	fs.DurationVar(&cfg.KillWorkerEvery, "kill-worker-every", 7*time.Second, "SIGKILL a random worker this often (0: never)")
	fs.DurationVar(&cfg.DrainWorkerEvery, "drain-worker-every", 0, "SIGTERM a random worker this often: it is drained and leaves, and the job starts a new one (0: never)")
	fs.DurationVar(&cfg.KillDriverAt, "kill-driver-at", 30*time.Second, "SIGKILL the driver once, this long after the start, and restart it (0: never)")
	fs.IntVar(&cfg.Rate, "rate", 20000, "records per second")
	seed := fs.Uint64("seed", 0, "seed of the input and of the kill schedule (0: a random one, printed)")
	fs.StringVar(&cfg.Postgres, "postgres", "", "also write the running totals to this PostgreSQL database (URL) and compare them")
	fs.StringVar(&cfg.Source, "source", "gen", "the job's input: "+chaos.SourceKinds()+" (kafka: a topic in an in-process Kafka cluster; nats: a JetStream stream in an embedded NATS server; filled as the records arrive and read by time)")
	fs.StringVar(&cfg.Sink, "sink", "file", "where the job's outputs go: "+chaos.SinkKinds()+" (kafka: topics of the in-process Kafka cluster, through the transactional sink; nats: subjects of the embedded NATS server, through the JetStream sink, deduplicated by message id)")
	fs.StringVar(&cfg.Dir, "dir", "", "working directory, kept (default: a temporary one, removed unless the run fails)")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures, nothing else on stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice chaos [flags]\n\n"+
			"Runs a stateful job (running counts, windows, MapWithState) on local-cluster over the generator\n"+
			"(or a Kafka topic or NATS stream: --source kafka, --source nats), writing to the exactly-once file\n"+
			"sink (or Kafka: --sink kafka; NATS: --sink nats; and PostgreSQL with --postgres), while killing random\n"+
			"workers and the driver with SIGKILL; then runs the same input without failures and compares\n"+
			"the outputs record by record.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		cfg.Seed = encbin.LittleEndian.Uint64(b[:])>>1 | 1
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary = bin
	keep := cfg.Dir != ""
	if !keep {
		if cfg.Dir, err = os.MkdirTemp("", "sluice-chaos-"); err != nil {
			return err
		}
	}
	st := startStatus(stdout, stderr)
	defer st.close()
	cfg.Log, cfg.Status = st.stderr, st.Status
	fmt.Fprintf(st.stderr, "chaos: seed %d, working in %s\n", cfg.Seed, cfg.Dir)
	res, err := chaos.Run(ctx, cfg)
	st.close()
	if err == nil && !res.Identical {
		err = fmt.Errorf("chaos: the outputs differ from a run without failures (seed %d, kept in %s): %v", cfg.Seed, cfg.Dir, res.Differences)
		keep = true
	}
	if err != nil {
		keep = true
	}
	if !keep {
		os.RemoveAll(cfg.Dir)
		res.Dir = ""
	}
	if res != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			if jerr := enc.Encode(res); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintf(stdout, "batches %d of %d, identical %v: %d records compared, %d lost, %d duplicated\n"+
				"%d worker kills, %d driver kills, %d worker drains (latest batch %.0f ms late beyond one interval); recovery p50 %.0f ms, max %.0f ms; seed %d\n",
				res.Batches, res.ExpectedBatches, res.Identical, res.Records, res.LostRecords, res.DuplicatedRecords,
				res.WorkerKills, res.DriverKills, res.WorkerDrains, res.DrainLateMsMax, res.RecoveryMsP50, res.RecoveryMsMax, res.Seed)
			for _, k := range res.Kills {
				fmt.Fprintf(stdout, "  %6.1f s  %-6s  recovered in %.0f ms\n", float64(k.AtMs)/1000, k.Process, k.RecoveryMs)
			}
		}
	}
	return err
}
