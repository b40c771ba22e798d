// Command files watches a directory for JSON-lines files of purchases and
// writes the large ones to an exactly-once file output compacted into one
// file per hour; lines that are not purchases go to a dead-letter output.
//
//	mkdir -p /tmp/in /tmp/out
//	go run ./examples/files --in /tmp/in --out /tmp/out --checkpoint /tmp/ckpt &
//	printf '{"user":"ann","cents":1250}\n{"user":"bob","cents":90}\nnot json\n' > /tmp/in/.a.jsonl
//	mv /tmp/in/.a.jsonl /tmp/in/a.jsonl    # files must appear whole: write, then rename in
//
// The output is /tmp/out/large/<batch-ms>/part-*.jsonl for each batch,
// until the hour is over (and a minute more, --settle): then the hour's batches
// become /tmp/out/large/compact-<hour-ms>-1/data.jsonl. The bad line is in
// /tmp/out/purchases.dead-letter/, with its path and line number. Stopped
// (Ctrl-C) and started again with the same --checkpoint, the job goes on
// with the files that appeared meanwhile, reading none twice. Flags: --in,
// --out, --every (the compaction period, 1h), --settle, --min-cents, and those of
// every Sluice program (--master local[4], --batch, --duration, …).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice"
	sinkfile "github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/source/file"
)

// Purchase is one line of the input files.
type Purchase struct {
	User  string `json:"user"`
	Cents int    `json:"cents"`
}

type config struct {
	in, out  string
	every    time.Duration
	settle   time.Duration
	minCents int
}

func build(cfg config) func(c *sluice.Context) {
	return func(c *sluice.Context) {
		src := file.JSONLines[Purchase](file.Dir(cfg.in), file.MaxFilesPerBatch(100))
		dead := sinkfile.New[sluice.BadRecord](cfg.out)
		purchases := sluice.FromSource(c, src, sluice.Named("purchases"), sluice.DeadLetter(dead))
		large := sluice.Filter(purchases, func(p Purchase) bool { return p.Cents >= cfg.minCents })
		sluice.WriteTo(large, sinkfile.New(cfg.out, sinkfile.Compact[Purchase](cfg.every),
			sinkfile.CompactSettle[Purchase](cfg.settle)), sluice.Named("large"))
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "worker" {
		return sluice.WorkerMain(ctx, args[1:])
	}
	f := sluice.Flags{Master: "local[2]", Batch: time.Second}
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	f.Register(fs)
	var cfg config
	fs.StringVar(&cfg.in, "in", "", "the directory to watch for *.jsonl files")
	fs.StringVar(&cfg.out, "out", "", "the output directory")
	fs.DurationVar(&cfg.every, "every", time.Hour, "the compaction period")
	fs.DurationVar(&cfg.settle, "settle", time.Minute, "how long after its end a period is compacted")
	fs.IntVar(&cfg.minCents, "min-cents", 1000, "the smallest purchase written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.in == "" || cfg.out == "" {
		return errors.New("files: --in and --out are required")
	}
	c, err := sluice.NewContext(f.Options()...)
	if err != nil {
		return err
	}
	build(cfg)(c)
	return sluice.RunUntilDone(ctx, c, f.Duration)
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
