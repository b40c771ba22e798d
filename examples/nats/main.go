// Command nats counts events per key, batch by batch, reading a NATS
// JetStream stream and publishing the counts to another subject exactly
// once.
//
// On a fresh machine, with no server of your own:
//
//	go run ./examples/nats --duration 10s
//	go run ./examples/nats --duration 10s --master 'local-cluster[2]'
//
// Without --url it starts an embedded NATS server with JetStream (its
// store in a temporary directory, removed at exit) and publishes --rate
// events a second to it; the workers of local-cluster connect to it too.
// Each event is a message on events.<key> whose data is the key; each
// batch's counts are JSON messages {"Key":"paris","Value":12} on the
// subject counts, with headers naming the batch. At the end it prints how
// many events it published and how many the counts add up to (equal but
// for the events after the last batch).
//
// With a server of your own (nats-server -js), the program creates the
// streams if they are missing (EVENTS on events.>, COUNTS on counts with a
// 10-minute duplicate window); publish events and watch the counts:
//
//	go run ./examples/nats --url nats://localhost:4222 &
//	nats pub events.paris paris --count 100
//	nats sub counts
//	nats consumer info EVENTS example-counts   # the job's position and lag
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	natssink "github.com/sluicehq/sluice/sink/nats"
	natssrc "github.com/sluicehq/sluice/source/nats"
)

// urlEnv passes the embedded server's URL to the worker processes of
// local-cluster, which inherit the environment.
const urlEnv = "SLUICE_EXAMPLE_NATS_URL"

// keys are the events' keys.
var keys = []string{"paris", "oslo", "rome", "lima", "kyiv"}

// build reads EVENTS, counts each batch's events by key, and writes the
// counts to the subject counts; it returns the sink, to close.
func build(c *sluice.Context, url string) *natssink.Sink[sluice.KV[string, int]] {
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.CommitTo("example-counts"))
	events := sluice.FromSource(c, src, sluice.Named("events"))
	pairs := sluice.Map(events, func(k string) sluice.KV[string, int] { return sluice.Pair(k, 1) })
	counts := sluice.ReduceByKey(pairs, func(a, b int) int { return a + b })
	out := natssink.New(url, "counts", natssink.JSON[sluice.KV[string, int]], natssink.MinDuplicateWindow(10*time.Minute))
	sluice.WriteTo(counts, out, sluice.Named("counts"))
	sluice.Print(counts, len(keys))
	return out
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run runs the program with args, printing the summary to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "worker" { // a standalone worker
		return sluice.WorkerMain(ctx, args[1:])
	}
	f := sluice.Flags{Batch: time.Second}
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	f.Register(fs)
	url := fs.String("url", "", "the NATS server (empty: start an embedded one and publish events to it)")
	rate := fs.Int("rate", 200, "events a second to publish to the embedded server (at most 100000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate <= 0 || *rate > 100_000 {
		return fmt.Errorf("--rate %d: want 1 to 100000", *rate)
	}
	embedded := *url == ""
	switch {
	case embedded && sluice.IsWorker():
		*url = os.Getenv(urlEnv)
	case embedded:
		ns, stop, err := startServer()
		if err != nil {
			return err
		}
		defer stop()
		*url = ns.ClientURL()
		os.Setenv(urlEnv, *url)
	}
	c, err := sluice.NewContext(f.Options()...)
	if err != nil {
		return err
	}
	out := build(c, *url)
	defer out.Close()
	if sluice.IsWorker() {
		return sluice.RunUntilDone(ctx, c, 0) // serves the driver, then exits
	}
	js, closeJS, err := setup(ctx, *url)
	if err != nil {
		c.Stop()
		return err
	}
	defer closeJS()
	var p *publisher
	if embedded {
		p = startPublisher(js, *rate)
	}
	err = sluice.RunUntilDone(ctx, c, f.Duration)
	published := p.stop()
	if err != nil {
		return err
	}
	counted, err := sumCounts(ctx, js)
	if err != nil {
		return err
	}
	if embedded {
		fmt.Fprintf(stdout, "published %d events; the counts add up to %d\n", published, counted)
	} else {
		fmt.Fprintf(stdout, "the counts add up to %d\n", counted)
	}
	return nil
}

// startServer starts an embedded NATS server with JetStream on a random
// loopback port, its store in a temporary directory; stop shuts it down
// and removes the directory.
func startServer() (ns *server.Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "sluice-nats-example-")
	if err != nil {
		return nil, nil, err
	}
	ns, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ns.Start()
	stop = func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		os.RemoveAll(dir)
	}
	if !ns.ReadyForConnections(10 * time.Second) {
		stop()
		return nil, nil, errors.New("the embedded NATS server did not start within 10 s")
	}
	return ns, stop, nil
}

// setup connects to url and makes the streams if they are missing.
func setup(ctx context.Context, url string) (jetstream.JetStream, func(), error) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "EVENTS", Subjects: []string{"events.>"}},
		{Name: "COUNTS", Subjects: []string{"counts"}, Duplicates: 10 * time.Minute},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			nc.Close()
			return nil, nil, fmt.Errorf("making stream %s: %w", cfg.Name, err)
		}
	}
	return js, nc.Close, nil
}

// publisher publishes events at a steady rate until stopped.
type publisher struct {
	quit chan struct{}
	wg   sync.WaitGroup
	n    int // events published, once stopped
}

func startPublisher(js jetstream.JetStream, rate int) *publisher {
	p := &publisher{quit: make(chan struct{})}
	p.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-p.quit:
				return
			case now := <-tick.C:
				for due := int(now.Sub(start).Seconds() * float64(rate)); p.n < due; p.n++ {
					k := keys[rand.IntN(len(keys))]
					if _, err := js.Publish(context.Background(), "events."+k, []byte(k)); err != nil {
						slog.Error("example: publishing stopped", "err", err)
						return
					}
				}
			}
		}
	})
	return p
}

// stop stops the publisher and returns how many events it published.
func (p *publisher) stop() int {
	if p == nil {
		return 0
	}
	close(p.quit)
	p.wg.Wait()
	return p.n
}

// sumCounts adds up the counts stored in COUNTS.
func sumCounts(ctx context.Context, js jetstream.JetStream) (int, error) {
	st, err := js.Stream(ctx, "COUNTS")
	if err != nil {
		return 0, err
	}
	sum := 0
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("counts"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return sum, nil
		}
		if err != nil {
			return 0, err
		}
		var kv sluice.KV[string, int]
		if err := json.Unmarshal(m.Data, &kv); err != nil {
			return 0, fmt.Errorf("COUNTS@%d: %w", m.Sequence, err)
		}
		sum += kv.Value
		seq = m.Sequence + 1
	}
}
