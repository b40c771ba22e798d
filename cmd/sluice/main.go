// Command sluice is how people try, measure and break Sluice:
//
//	sluice demo     the main job: streaming ad-fraud and billing analytics
//	sluice bench    benchmarks (grep, wordcount, topk, ysb, recovery); --json for figures
//	sluice chaos    a stateful job under SIGKILLs, compared with a run without
//	sluice replay   one batch of a built-in job computed again from its checkpoint
//	sluice sim      the simulator: recovery and stragglers on clusters of up to thousands of nodes
//	sluice driver   a built-in job as a standalone driver
//	sluice worker   a worker that joins a standalone driver
//
// Every subcommand has --help.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `sluice — a discretized-stream processing engine for Go

usage: sluice <command> [flags]

commands:
  demo    run the main job: ad-fraud and billing analytics over a generated ad stream
  bench   run a benchmark workload (grep, wordcount, topk, ysb, recovery)
  chaos   kill workers and the driver of a stateful job, then compare its output with a failure-free run
  replay  compute one batch of a built-in job again from its checkpoint and print its outputs (--checkpoint DIR --batch T)
  state   print a stateful operator's state from a built-in job's checkpoint (--checkpoint DIR --operator NAME [--key K])
  sim     simulate recovery (parallel against upstream backup) and stragglers on up to thousands of nodes
  driver  run a built-in job as a standalone driver that workers join
  worker  join a standalone driver (--driver HOST:PORT)

Run 'sluice <command> --help' for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "chaos":
		err = runChaos(ctx, args[1:], stdout, stderr)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
	case "state":
		err = runState(ctx, args[1:], stdout, stderr)
	case "sim":
		err = runSim(ctx, args[1:], stdout, stderr)
	case "driver":
		err = runDriver(ctx, args[1:], stdout, stderr)
	case "worker":
		err = runWorker(ctx, args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice:", strings.TrimPrefix(err.Error(), "sluice: "))
		return 1
	}
	return 0
}
