package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluicehq/sluice"
)

// runDriver runs a built-in job as a standalone driver: workers started
// anywhere with `sluice worker --driver ADDR` join it.
func runDriver(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice driver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 1, "workers to wait for before the first batch (later ones join the running job)")
	listen := fs.String("listen", "127.0.0.1:7077", "address workers connect to (0.0.0.0:7077 for other hosts)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice driver [flags] demo|bench WORKLOAD [job flags]\n\n"+
			"Runs a built-in job as a standalone driver. Start workers anywhere with\n"+
			"  SLUICE_SECRET=… sluice worker --driver HOST:PORT\n"+
			"The cluster secret is $SLUICE_SECRET (hex); without it the driver makes one and prints it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	rest := fs.Args()
	if len(rest) == 0 || (rest[0] != "demo" && rest[0] != "bench") {
		fs.Usage()
		return errUsage
	}
	if !sluice.IsWorker() && os.Getenv("SLUICE_SECRET") == "" && !hasFlag(rest, "secret-file", "plaintext") {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		os.Setenv("SLUICE_SECRET", hex.EncodeToString(secret))
		fmt.Fprintf(stderr, "cluster secret (give it to the workers): SLUICE_SECRET=%s\n", hex.EncodeToString(secret))
	}
	jobArgs := append([]string{"--master", fmt.Sprintf("standalone[%d]", *workers), "--listen", *listen}, rest[1:]...)
	if rest[0] == "bench" {
		if len(rest) < 2 {
			fs.Usage()
			return errUsage
		}
		return runBench(ctx, append([]string{rest[1]}, append(jobArgs[:4:4], rest[2:]...)...), stdout, stderr)
	}
	return runDemo(ctx, jobArgs, stdout, stderr)
}

func hasFlag(args []string, names ...string) bool {
	for _, a := range args {
		for _, n := range names {
			if strings.TrimLeft(a, "-") == n || strings.HasPrefix(strings.TrimLeft(a, "-"), n+"=") {
				return true
			}
		}
	}
	return false
}

// runWorker joins a standalone driver (see sluice.WorkerMain).
func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprintf(stderr, "usage: sluice worker --driver HOST:PORT [--secret-file FILE] [--plaintext]\n\n"+
				"Joins a standalone driver: asks it for its job and runs it as a worker.\n"+
				"The cluster secret is $SLUICE_SECRET (hex) unless --secret-file is given.\n")
			return errUsage
		}
	}
	return sluice.WorkerMain(ctx, args)
}
