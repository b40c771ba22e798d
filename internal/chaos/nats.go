package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	sinknats "github.com/sluicehq/sluice/sink/nats"
	srcnats "github.com/sluicehq/sluice/source/nats"
)

// The NATS kinds: the input is a JetStream stream filled, like the Kafka
// topic, fillLead ahead of the wall clock, each message stamped with its
// arrival time (source/nats Stamp and Fill), and read by time
// (PlanByTime): batch t reads the messages stamped before t, so the
// reference run, over the same batch times, reads the same batches. The
// outputs go through the NATS sink to one subject each, captured by a
// stream whose duplicate window outlasts the run, so that every rerun
// write of a partition is dropped as a duplicate.

// The NATS peer's streams and subjects.
const (
	natsInputStream  = "SLUICE_CHAOS_INPUT"
	natsInputSubject = "sluice-chaos.input"
	natsOutputStream = "SLUICE_CHAOS_OUTPUT"
	// natsDupWindow is the output stream's duplicate window: longer
	// than a whole run (Run gives the job its duration plus five
	// minutes), so no rerun of a batch is stored twice.
	natsDupWindow = 10 * time.Minute
)

func natsOutputSubject(name string) string { return "sluice-chaos.out." + name }

// natsPeer is an embedded JetStream server, and the harness's connection
// to it.
type natsPeer struct {
	srv *server.Server
	url string
	nc  *natsgo.Conn
	js  jetstream.JetStream
}

// startNATS starts a JetStream server on a random local port, storing in
// dir, with the input stream and the output stream, as asked.
func startNATS(ctx context.Context, dir string, input, outputs bool) (*natsPeer, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("chaos: starting nats-server: %w", err)
	}
	srv.Start()
	n := &natsPeer{srv: srv, url: srv.ClientURL()}
	if !srv.ReadyForConnections(10 * time.Second) {
		n.stop()
		return nil, fmt.Errorf("chaos: the embedded nats-server did not start")
	}
	if n.nc, err = natsgo.Connect(n.url); err != nil {
		n.stop()
		return nil, fmt.Errorf("chaos: connecting to nats-server: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.stop()
		return nil, fmt.Errorf("chaos: nats: %w", err)
	}
	var streams []jetstream.StreamConfig
	if input {
		streams = append(streams, jetstream.StreamConfig{Name: natsInputStream, Subjects: []string{natsInputSubject}})
	}
	if outputs {
		streams = append(streams, jetstream.StreamConfig{Name: natsOutputStream, Subjects: []string{natsOutputSubject(">")},
			Duplicates: natsDupWindow})
	}
	for _, sc := range streams {
		if _, err := n.js.CreateStream(ctx, sc); err != nil {
			n.stop()
			return nil, fmt.Errorf("chaos: making stream %s: %w", sc.Name, err)
		}
	}
	return n, nil
}

func (n *natsPeer) stop() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// natsText is the NATS source kind's input: the input stream, planned by
// the stamps Fill put in TimeHeader.
func natsText(c *sluice.Context, cfg JobConfig) *sluice.Stream[string] {
	src := srcnats.New(cfg.NATS, natsInputStream, srcnats.Text,
		srcnats.PlanByTime(srcnats.TimeHeader), srcnats.Partitions(inputPartitions))
	return sluice.FromSource(c, src, sluice.Named("text"))
}

// natsInput writes the input stream, each message stamped with its
// record's arrival time.
func natsInput(_ context.Context, p *peers) (input, error) {
	return natsWriter{p.nats.js}, nil
}

type natsWriter struct{ js jetstream.JetStream }

func (w natsWriter) put(ctx context.Context, first int64, vals []string, at func(int64) time.Time) error {
	msgs := make([]*natsgo.Msg, len(vals))
	for k, v := range vals {
		msgs[k] = srcnats.Stamp(natsInputSubject, []byte(v), at(first+int64(k)))
	}
	_, _, err := srcnats.Fill(ctx, w.js, msgs)
	return err
}

func (w natsWriter) name() string { return natsInputStream }

// close: the connection is the peer's, closed with it.
func (w natsWriter) close() {}

// natsSink is the NATS sink kind's sink for output name: its records as
// JSON (the file sink's lines) on the output's subject. It refuses a
// window shorter than the one the harness gives the stream.
func natsSink(cfg JobConfig, name string) sluice.Sink[Rec] {
	return sinknats.New(cfg.NATS, natsOutputSubject(name), sinknats.JSON[Rec],
		sinknats.MinDuplicateWindow(natsDupWindow), sinknats.RefuseShortWindow())
}

// natsLine is a message of the output stream: its batch (Unix ms) and
// data.
type natsLine struct {
	batch int64
	line  string
}

// readNATS reads what the job wrote to output name: every message of its
// subject, by the batch in the sink's header.
func readNATS(_ Config, p *peers, name string) (map[int64][]string, error) {
	ctx := context.Background()
	st, err := p.nats.js.Stream(ctx, natsOutputStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	subject := natsOutputSubject(name)
	src := srcnats.New(p.nats.url, natsOutputStream, func(m srcnats.Msg) (natsLine, error) {
		if o := m.Header.Get(sinknats.OutputHeader); o != name {
			return natsLine{}, fmt.Errorf("output header %q, not %q", o, name)
		}
		bt, err := time.Parse(time.RFC3339Nano, m.Header.Get(sinknats.BatchHeader))
		if err != nil {
			return natsLine{}, fmt.Errorf("batch header: %w", err)
		}
		return natsLine{bt.UnixMilli(), string(m.Data)}, nil
	}, srcnats.Filter(subject), srcnats.FetchSize(4096))
	defer src.Close()
	lines, bad, err := src.Read(ctx, srcnats.Plan{From: 1, To: info.State.LastSeq + 1, Parts: 1}, 0)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%d messages of %s not as the sink writes them, the first at %s: %s", len(bad), subject, bad[0].Position, bad[0].Error)
	}
	out := make(map[int64][]string)
	for _, l := range lines {
		out[l.batch] = append(out[l.batch], l.line)
	}
	return out, nil
}

// natsURL is the NATS peer's URL, "" without one.
func (p *peers) natsURL() string {
	if p.nats == nil {
		return ""
	}
	return p.nats.url
}
