package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/chaos"
)

// demoProgram is the name the demo records in its checkpoints.
const demoProgram = "demo"

// replayable are the built-in jobs `sluice replay` rebuilds, by the
// program name their checkpoints record (sluice.Program): each turns the
// recorded arguments into the job's build function.
var replayable = map[string]func(args []string) (func(*sluice.Context), error){
	chaos.ProgramName: chaos.JobBuilder,
	demoProgram:       demoBuilder,
}

// firstUnixNs is where --batch's integers stop being batch numbers and
// start being Unix times in nanoseconds: 10^12 batches are 31 years of 1ms
// batches, and 10^12 ns after 1970 are 17 minutes into it.
const firstUnixNs = 1_000_000_000_000

// replayJSON is what --json prints.
type replayJSON struct {
	Batch   int64               `json:"batch"` // Unix ms
	Outputs map[string][]string `json:"outputs"`
	Records int                 `json:"records"`
}

// runReplay recomputes one batch of a built-in job from its checkpoint
// (see sluice.Replay) and prints what each output got.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loc := fs.String("checkpoint", "", "the job's checkpoint: a directory or s3://bucket/prefix?endpoint=…")
	batch := fs.String("batch", "", "the batch to replay: a batch number, from 1, or a batch time (see above)")
	asJSON := fs.Bool("json", false, `print one JSON object, nothing else on stdout: {"batch": Unix ms, "outputs": {name: [records]}, "records": N}`)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice replay --checkpoint DIR --batch T [--json]\n\n"+
			"Computes one batch of a built-in job (sluice chaos job, sluice demo, sluice driver demo) again from\n"+
			"the job's checkpoint, on this machine, with the batch's recorded input offsets and the state of the\n"+
			"checkpoint, and prints the records each of the job's outputs got at that batch (with %%v, as Print\n"+
			"does). Nothing is written: not the job's sinks (files, PostgreSQL), not its checkpoint.\n\n"+
			"T is a batch number or a batch time:\n"+
			"  12                    the job's 12th batch (its first batch is 1): an integer below 10^12\n"+
			"  2026-03-01T10:00:12Z  a time, RFC 3339\n"+
			"  1772359212000000000   a time, Unix nanoseconds: an integer from 10^12 on\n"+
			"  1772359212000ms       a time, Unix milliseconds (as Print and the sinks show batches)\n"+
			"Only the batches since the oldest state checkpoint the job keeps can be replayed: an error says which.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *loc == "" || *batch == "" {
		fmt.Fprintln(stderr, "sluice replay needs --checkpoint and --batch")
		fs.Usage()
		return errUsage
	}
	info, err := sluice.ReadCheckpoint(ctx, *loc)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if info == nil {
		return fmt.Errorf("replay: no checkpoint in %s", *loc)
	}
	builder, ok := replayable[info.Program]
	switch {
	case info.Program == "":
		return fmt.Errorf("replay: the job of %s did not record its program (sluice.Program): replay it with sluice.Replay from its own program", *loc)
	case !ok:
		return fmt.Errorf("replay: %s holds a checkpoint of %q, which is not a built-in job (%s): replay it with sluice.Replay from its own program",
			*loc, info.Program, strings.Join(slices.Sorted(maps.Keys(replayable)), ", "))
	}
	t, err := parseBatch(*batch, info)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	build, err := builder(info.Args)
	if err != nil {
		return fmt.Errorf("replay: rebuilding %q from its recorded arguments: %w", info.Program, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := sluice.Replay(ctx, *loc, t, build, sluice.Logger(log))
	if err != nil {
		return err
	}
	if *asJSON {
		out := replayJSON{Batch: res.Batch.UnixMilli(), Outputs: make(map[string][]string), Records: res.Records()}
		for _, o := range res.Outputs {
			out.Outputs[o.Name] = o.Strings()
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	printReplay(stdout, info, res)
	return nil
}

// parseBatch reads --batch (see runReplay's usage).
func parseBatch(s string, info *sluice.CheckpointInfo) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	digits, ms := strings.CutSuffix(s, "ms")
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("--batch %q is neither a batch number nor a time (RFC 3339, Unix ns, or Unix ms with an ms suffix)", s)
	case ms:
		return time.UnixMilli(n), nil
	case n >= firstUnixNs:
		return time.Unix(0, n), nil
	case n < 1:
		return time.Time{}, fmt.Errorf("--batch %d: batch numbers start at 1 (the job's first batch)", n)
	case n-1 > (math.MaxInt64-info.First.UnixNano())/int64(info.Batch):
		return time.Time{}, fmt.Errorf("--batch %d: no such batch (beyond the year 2262)", n)
	}
	return info.First.Add(time.Duration(n-1) * info.Batch), nil
}

// printReplay prints a replayed batch for a human.
func printReplay(w io.Writer, info *sluice.CheckpointInfo, res *sluice.ReplayResult) {
	number := func(t time.Time) int64 { return int64(t.Sub(info.First)/info.Batch) + 1 }
	records := func(n int) string {
		if n == 1 {
			return "1 record"
		}
		return fmt.Sprintf("%d records", n)
	}
	fmt.Fprintf(w, "batch %d of %s (%s, %d ms): %s\n", res.Number, info.Program,
		res.Batch.UTC().Format(time.RFC3339Nano), res.Batch.UnixMilli(), records(res.Records()))
	var from []string
	for _, name := range slices.Sorted(maps.Keys(res.Restored)) {
		from = append(from, fmt.Sprintf("%s from batch %d", name, number(res.Restored[name])))
	}
	if len(from) > 0 {
		fmt.Fprintf(w, "state checkpoints read: %s\n", strings.Join(from, ", "))
	}
	for _, o := range res.Outputs {
		fmt.Fprintf(w, "\n%s (%s): %s\n", o.Name, o.Kind, records(len(o.Records)))
		for _, r := range o.Strings() {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
}
