package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/file"
	sinkkafka "github.com/sluicehq/sluice/sink/kafka"
	srckafka "github.com/sluicehq/sluice/source/kafka"
)

// Where the chaos job reads its text from and writes its outputs to. A
// kind of source or sink is a row of sources or sinks: how the job makes
// its input or sink (in the driver and worker processes, from the job's
// arguments), and, for a sink, how the harness reads back what the job
// committed. Peers (a Kafka cluster) run in the harness process, which
// outlives the driver and workers it kills; startPeers starts the ones
// the kinds need (each independently: a Kafka source may feed a NATS
// sink) and adds their addresses to the job's arguments. To add a kind
// (PostgreSQL), add a row and, if it needs a server, a peer.

// sourceKind is a kind of input.
type sourceKind struct {
	// text makes the job's input stream.
	text func(c *sluice.Context, cfg JobConfig) *sluice.Stream[string]
	// input, for a kind read from a peer, opens the writer the filler
	// fills the peer's input with (see startFill).
	input func(ctx context.Context, p *peers) (input, error)
	// kafka and nats are set if the kind needs the Kafka or NATS peer.
	kafka, nats bool
}

// sinkKind is a kind of output.
type sinkKind struct {
	// sink makes the job's sink for output name.
	sink func(cfg JobConfig, name string) sluice.Sink[Rec]
	// read reads back what the job committed to output name, as the
	// file sink's lines by batch (Unix ms).
	read        func(cfg Config, p *peers, name string) (map[int64][]string, error)
	kafka, nats bool
}

var sources = map[string]sourceKind{
	"gen": {text: func(c *sluice.Context, cfg JobConfig) *sluice.Stream[string] {
		return sluice.Generate(c, sluice.TextGenerator(cfg.Seed), cfg.Rate)
	}},
	"kafka": {kafka: true, input: kafkaInput, text: func(c *sluice.Context, cfg JobConfig) *sluice.Stream[string] {
		// Replay by time: batch t reads the records that arrived
		// before t, so the reference run, over the same batch times,
		// reads the same batches.
		src := srckafka.New[string](cfg.brokers(), []string{inputTopic}, nil, srckafka.ReplayByTime(), srckafka.Group("sluice-chaos"))
		return sluice.FromSource(c, src, sluice.Named("text"))
	}},
	"nats": {nats: true, input: natsInput, text: natsText},
}

var sinks = map[string]sinkKind{
	"file": {
		sink: func(cfg JobConfig, _ string) sluice.Sink[Rec] { return file.New[Rec](cfg.Out) },
		read: func(cfg Config, _ *peers, name string) (map[int64][]string, error) {
			return readOutput(filepath.Join(cfg.Dir, "out"), name, func(time.Time) bool { return true })
		},
	},
	"kafka": {kafka: true,
		sink: func(cfg JobConfig, name string) sluice.Sink[Rec] {
			return sinkkafka.New(cfg.brokers(), outputTopic(name), func(r Rec) ([]byte, []byte, error) {
				v, err := json.Marshal(r)
				return []byte(r.Key), v, err
			}, sinkkafka.TransactionalIDPrefix("sluice-chaos"))
		},
		read: func(_ Config, p *peers, name string) (map[int64][]string, error) {
			out := make(map[int64][]string)
			err := sinkkafka.ReadCommitted(context.Background(), p.brokers, outputTopic(name), func(k sluice.OutputKey, ok bool, r *kgo.Record) error {
				if !ok {
					return fmt.Errorf("a record without the sink's headers at %s", srckafka.Position(r.Topic, r.Partition, r.Offset))
				}
				out[k.Batch.UnixMilli()] = append(out[k.Batch.UnixMilli()], string(r.Value))
				return nil
			})
			return out, err
		},
	},
	"nats": {nats: true, sink: natsSink, read: readNATS},
}

// kindNames returns a table's kinds, sorted, for messages.
func kindNames[K any](m map[string]K) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// SourceKinds and SinkKinds list the kinds --source and --sink take.
func SourceKinds() string { return kindNames(sources) }
func SinkKinds() string   { return kindNames(sinks) }

// checkKinds checks that the source and sink kinds exist.
func checkKinds(source, sink string) error {
	if _, ok := sources[source]; !ok {
		return fmt.Errorf("chaos: no source %q (sources: %s)", source, SourceKinds())
	}
	if _, ok := sinks[sink]; !ok {
		return fmt.Errorf("chaos: no sink %q (sinks: %s)", sink, SinkKinds())
	}
	return nil
}

// The Kafka peer's topics.
const (
	inputTopic = "sluice-chaos-input"
	// inputPartitions: the input's partitions, so tasks per batch.
	inputPartitions = 4
	// fillLead is how far ahead of the wall clock the input is filled:
	// a batch is planned at about its time, and must find every record
	// that arrived before it.
	fillLead = 15 * time.Second
)

func outputTopic(name string) string { return "sluice-chaos-" + name }

// brokers returns the Kafka peer's addresses the job was given.
func (cfg JobConfig) brokers() []string { return strings.Split(cfg.Brokers, ",") }

// peers are the servers the job's kinds need, run by the harness.
type peers struct {
	kafka   *kfake.Cluster
	brokers []string
	nats    *natsPeer
	// fill fills the input; stop ends it and waits.
	stopFill context.CancelFunc
	fillDone chan error
}

// startPeers starts the peers cfg's kinds need and returns the job
// arguments that name them.
func startPeers(ctx context.Context, cfg Config) (*peers, []string, error) {
	p := &peers{}
	src, snk := sources[cfg.Source], sinks[cfg.Sink]
	var args []string
	if src.kafka || snk.kafka {
		if err := p.startKafka(ctx, src.kafka, snk.kafka); err != nil {
			p.stop()
			return nil, nil, err
		}
		args = append(args, "--kafka-brokers", strings.Join(p.brokers, ","))
	}
	if src.nats || snk.nats {
		n, err := startNATS(ctx, filepath.Join(cfg.Dir, "nats"), src.nats, snk.nats)
		if err != nil {
			p.stop()
			return nil, nil, err
		}
		p.nats = n
		args = append(args, "--nats-url", n.url)
	}
	if src.input != nil {
		in, err := src.input(ctx, p)
		if err != nil {
			p.stop()
			return nil, nil, err
		}
		if err := p.startFill(ctx, cfg, in); err != nil {
			p.stop()
			return nil, nil, err
		}
	}
	return p, args, nil
}

// startKafka starts the Kafka peer with the input topic and the output
// topics, as asked.
func (p *peers) startKafka(ctx context.Context, input, outputs bool) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("chaos: starting kfake: %w", err)
	}
	p.kafka, p.brokers = c, c.ListenAddrs()
	topics := map[string]int32{}
	if input {
		topics[inputTopic] = inputPartitions
	}
	if outputs {
		for _, o := range Outputs {
			topics[outputTopic(o)] = 4
		}
	}
	return createTopics(ctx, p.brokers, topics)
}

func createTopics(ctx context.Context, brokers []string, topics map[string]int32) error {
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer adm.Close()
	for t, n := range topics {
		if _, err := adm.CreateTopic(ctx, n, 1, nil, t); err != nil {
			return fmt.Errorf("chaos: making topic %s: %w", t, err)
		}
	}
	return nil
}

// input is where the filler writes the input: a peer's topic or stream.
type input interface {
	// put writes records first, first+1, … (vals), record i arriving
	// at at(i), in order after the ones written before.
	put(ctx context.Context, first int64, vals []string, at func(int64) time.Time) error
	// name names the input in errors.
	name() string
	close()
}

// kafkaInput writes the input topic, record i on partition i mod
// inputPartitions, with its arrival time as timestamp.
func kafkaInput(_ context.Context, p *peers) (input, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return nil, err
	}
	return kafkaWriter{cl}, nil
}

type kafkaWriter struct{ cl *kgo.Client }

func (w kafkaWriter) put(ctx context.Context, first int64, vals []string, at func(int64) time.Time) error {
	recs := make([]*kgo.Record, len(vals))
	for k, v := range vals {
		i := first + int64(k)
		recs[k] = &kgo.Record{Topic: inputTopic, Partition: int32(i % inputPartitions), Value: []byte(v), Timestamp: at(i)}
	}
	return w.cl.ProduceSync(ctx, recs...).FirstErr()
}

func (w kafkaWriter) name() string { return inputTopic }
func (w kafkaWriter) close()       { w.cl.Close() }

// startFill fills in with the generator's records as they arrive at
// cfg.Rate from now on, each with its arrival time as its time, fillLead
// ahead of the wall clock, until stop. It returns once the first fillLead
// is written; in is closed when filling stops.
func (p *peers) startFill(ctx context.Context, cfg Config, in input) error {
	f := &filler{in: in, gen: sluice.TextGenerator(cfg.Seed), rate: int64(max(cfg.Rate, 1)), t0: time.Now().Truncate(time.Millisecond)}
	if err := f.upTo(ctx, time.Now().Add(fillLead)); err != nil {
		in.close()
		return fmt.Errorf("chaos: filling %s: %w", in.name(), err)
	}
	ctx, p.stopFill = context.WithCancel(ctx)
	p.fillDone = make(chan error, 1)
	go func() {
		defer in.close()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				p.fillDone <- nil
				return
			case now := <-t.C:
				if err := f.upTo(ctx, now.Add(fillLead)); err != nil && ctx.Err() == nil {
					p.fillDone <- fmt.Errorf("chaos: filling %s: %w", in.name(), err)
					return
				}
			}
		}
	}()
	return nil
}

// filler writes the generator's records in arrival order.
type filler struct {
	in   input
	gen  sluice.Generator[string]
	rate int64
	t0   time.Time
	next int64 // the first record not written
}

// at is when record i arrives.
func (f *filler) at(i int64) time.Time {
	return f.t0.Add(time.Duration(i * int64(time.Second) / f.rate))
}

// upTo writes the records that arrive before t.
func (f *filler) upTo(ctx context.Context, t time.Time) error {
	end := int64(t.Sub(f.t0)) * f.rate / int64(time.Second)
	for f.next < end {
		to := min(end, f.next+10000)
		if err := f.in.put(ctx, f.next, f.gen.Records(f.next, to, f.at(f.next), f.at(to)), f.at); err != nil {
			return err
		}
		f.next = to
	}
	return nil
}

// stopFilling stops the input filler, if any, and returns its error.
func (p *peers) stopFilling() error {
	if p.stopFill == nil {
		return nil
	}
	p.stopFill()
	p.stopFill = nil
	return <-p.fillDone
}

// stop stops filling and the peers; it returns the filler's error.
func (p *peers) stop() error {
	err := p.stopFilling()
	if p.kafka != nil {
		p.kafka.Close()
		p.kafka = nil
	}
	if p.nats != nil {
		p.nats.stop()
		p.nats = nil
	}
	return err
}
