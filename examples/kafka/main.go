// Command kafka is a Kafka-to-Kafka job: it reads lines from a topic,
// counts each batch's words and writes the counts to another topic,
// exactly once (source/kafka and sink/kafka).
//
// On a fresh machine, with no Kafka at hand, it starts an in-process one
// (kfake) with both topics, feeds the input 50 lines every 100 ms, runs
// for 5 s and prints what was committed to the output, batch by batch:
//
//	go run ./examples/kafka
//
// Against a real cluster (the topics must exist; runs until Ctrl-C):
//
//	go run ./examples/kafka --brokers localhost:9092 --in lines --out word-counts --duration 0
//
// Readers of the output topic must read with read_committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	sinkkafka "github.com/sluicehq/sluice/sink/kafka"
	"github.com/sluicehq/sluice/source/kafka"
)

// build reads in, counts each batch's words and writes "word count"
// records (keyed by the word) to out.
func build(c *sluice.Context, brokers []string, in, out string) {
	lines := sluice.FromSource(c, kafka.New[string](brokers, []string{in}, nil, kafka.Group("example-word-count")),
		sluice.Named("lines"))
	words := sluice.FlatMap(lines, strings.Fields)
	counts := sluice.CountByValue(words)
	sink := sinkkafka.New(brokers, out, func(kv sluice.KV[string, int64]) ([]byte, []byte, error) {
		return []byte(kv.Key), fmt.Appendf(nil, "%s %d", kv.Key, kv.Value), nil
	})
	sluice.WriteTo(counts, sluice.Sink[sluice.KV[string, int64]](sink), sluice.Named("word-counts"))
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	f := sluice.Flags{Master: "local[2]", Batch: time.Second}
	f.Register(fs)
	brokers := fs.String("brokers", "", "the Kafka cluster, comma-separated host:port (empty: start an in-process one, fed with text)")
	in := fs.String("in", "lines", "the topic to read")
	out := fs.String("out", "word-counts", "the topic to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	opts := f.Options()
	var local *localKafka
	if *brokers == "" {
		if !set["duration"] {
			f.Duration = 5 * time.Second
		}
		var err error
		if local, err = startLocal(*in, *out); err != nil {
			return err
		}
		defer local.stop()
		*brokers = strings.Join(local.cluster.ListenAddrs(), ",")
		// Worker processes (--master local-cluster[N]) reach this
		// process's cluster.
		opts = append(opts, sluice.WorkerArgs(append(slices.Clone(args), "--brokers", *brokers)...))
	}
	c, err := sluice.NewContext(opts...)
	if err != nil {
		return err
	}
	build(c, strings.Split(*brokers, ","), *in, *out)
	if err := sluice.RunUntilDone(context.Background(), c, f.Duration); err != nil {
		return err
	}
	if local != nil {
		return printCommitted(strings.Split(*brokers, ","), *out)
	}
	return nil
}

// localKafka is an in-process Kafka cluster and the producer feeding it.
type localKafka struct {
	cluster *kfake.Cluster
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startLocal starts a kfake cluster with topics in and out (2 partitions
// each), and a producer writing 50 lines to in every 100 ms.
func startLocal(in, out string) (*localKafka, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, in, out))
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(in))
	if err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &localKafka{cluster: c, cancel: cancel}
	words := strings.Fields("the quick brown fox jumps over the lazy dog and the cat")
	l.wg.Go(func() {
		defer cl.Close()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			recs := make([]*kgo.Record, 50)
			for k := range recs {
				n := i*50 + k
				recs[k] = &kgo.Record{Value: []byte(words[n%len(words)] + " " + words[(n/3)%len(words)])}
			}
			cl.ProduceSync(ctx, recs...) // an error here only shows as fewer lines
		}
	})
	return l, nil
}

func (l *localKafka) stop() {
	l.cancel()
	l.wg.Wait()
	l.cluster.Close()
}

// printCommitted prints what was committed to topic, batch by batch.
func printCommitted(brokers []string, topic string) error {
	batches := make(map[int64][]string)
	err := sinkkafka.ReadCommitted(context.Background(), brokers, topic, func(k sluice.OutputKey, _ bool, r *kgo.Record) error {
		batches[k.Batch.UnixMilli()] = append(batches[k.Batch.UnixMilli()], string(r.Value))
		return nil
	})
	if err != nil {
		return err
	}
	times := slices.Sorted(func(yield func(int64) bool) {
		for t := range batches {
			if !yield(t) {
				return
			}
		}
	})
	for _, t := range times {
		counts := batches[t]
		slices.Sort(counts)
		fmt.Printf("batch %s: %s\n", time.UnixMilli(t).Format("15:04:05"), strings.Join(counts, ", "))
	}
	return nil
}
