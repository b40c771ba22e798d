// Command http takes JSON-lines events POSTed over HTTP, authenticated by
// a bearer token, counts them per page every batch and prints the counts;
// lines that are not events go to a dead-letter directory, with the
// sender's address and the line number.
//
//	go run ./examples/http --duration 60s &
//	curl -H 'Authorization: Bearer dev-token' --data-binary $'{"page":"/"}\n{"page":"/buy"}\nnot json\n' localhost:8080/
//	# {"bad":1,"records":2}: answered once the records are stored on two workers
//	cat /tmp/sluice-http-dead-letters/events.dead-letter/*/part-*.jsonl
//
// Without the token the answer is 401; over the rate limit (--max-rate) it
// is 429 with Retry-After; a body over 16 MiB is 413. Flags: --addr,
// --token (or SLUICE_HTTP_TOKEN), --dead-letters, and those of every
// Sluice program (--master, --batch, --duration, --max-rate, …). For the open
// internet, add sluice.TLS(cert, key) to the receiver.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/file"
)

// Event is one line of a request's body.
type Event struct {
	Page string `json:"page"`
}

// config is the example's own flags.
type config struct {
	addr, token, dlDir string
}

func build(cfg config) func(c *sluice.Context) {
	return func(c *sluice.Context) {
		events := sluice.HTTPJSON[Event](c, cfg.addr, sluice.Named("events"), sluice.AuthToken(cfg.token),
			sluice.DeadLetter(file.New[sluice.BadRecord](cfg.dlDir)))
		pages := sluice.Map(events, func(e Event) sluice.KV[string, int] { return sluice.Pair(e.Page, 1) })
		sluice.Print(sluice.ReduceByKey(pages, func(a, b int) int { return a + b }), 20)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "worker" {
		return sluice.WorkerMain(ctx, args[1:])
	}
	f := sluice.Flags{Master: "local[2]", Batch: time.Second}
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	f.Register(fs)
	var cfg config
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "the address the receiver listens on")
	fs.StringVar(&cfg.token, "token", os.Getenv("SLUICE_HTTP_TOKEN"), "the bearer token senders must give (default $SLUICE_HTTP_TOKEN, else dev-token)")
	fs.StringVar(&cfg.dlDir, "dead-letters", filepath.Join(os.TempDir(), "sluice-http-dead-letters"), "the dead-letter output's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.token == "" {
		cfg.token = "dev-token"
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
