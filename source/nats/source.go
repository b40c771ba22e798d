package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// ErrClosed is returned by a Source used after Close.
var ErrClosed = errors.New("nats: source closed")

// Source reads a JetStream stream as a sluice input: the driver plans each
// batch as a range of stream sequences and the tasks read exactly that
// range, so a batch read again reads the same messages. Make it with New
// and give it to sluice.FromSource. It is safe for concurrent use and
// connects on first use.
type Source[T any] struct {
	url    string
	stream string
	decode func(Msg) (T, error)
	cfg    config
	// err is an invalid option or argument, returned by every method.
	err error

	mu     sync.Mutex
	nc     *natsgo.Conn
	st     jetstream.Stream
	closed bool
	// durable is true once CommitTo's consumer was made.
	durable bool
}

// The interfaces a Source implements.
var (
	_ sluice.Source[Plan, string]  = (*Source[string])(nil)
	_ sluice.SourceCounter[Plan]   = (*Source[string])(nil)
	_ sluice.SourceCommitter[Plan] = (*Source[string])(nil)
	_ interface{ Close() error }   = (*Source[string])(nil)
)

// New makes a source of the JetStream stream named stream on the server
// at url (a NATS URL, or several separated by commas), decoding each
// message with decode (Text, JSON, or a function of your own). A message
// decode fails on becomes a sluice.BadRecord at "stream@sequence".
func New[T any](url, stream string, decode func(Msg) (T, error), opts ...Option) *Source[T] {
	s := &Source[T]{url: url, stream: stream, decode: decode, cfg: defaults()}
	switch {
	case stream == "":
		s.err = errors.New("nats: empty stream name")
	case decode == nil:
		s.err = errors.New("nats: nil decode function")
	}
	for _, o := range opts {
		if err := o(&s.cfg); err != nil && s.err == nil {
			s.err = err
		}
	}
	return s
}

// conn returns the stream, connecting the first time.
func (s *Source[T]) conn(ctx context.Context) (jetstream.Stream, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.st != nil {
		return s.st, nil
	}
	if s.nc == nil {
		nc, err := natsgo.Connect(s.url, s.cfg.connect...)
		if err != nil {
			return nil, fmt.Errorf("nats: connecting to %s: %w", s.url, err)
		}
		s.nc = nc
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	st, err := js.Stream(ctx, s.stream)
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s on %s: %w", s.stream, s.url, err)
	}
	s.st = st
	return st, nil
}

// Close closes the source's connection. The engine closes a source given
// to sluice.FromSource when the job stops.
func (s *Source[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.st = nil, nil
	}
	return nil
}

// Plan plans batch req.Batch: the sequences from where the previous batch
// ended (or the start position) to the stream's last one, or, with
// PlanByTime, to the first message stamped at or after the batch time;
// cut to req.Limit and MaxPerBatch sequences.
func (s *Source[T]) Plan(ctx context.Context, req sluice.PlanRequest[Plan]) (Plan, error) {
	st, err := s.conn(ctx)
	if err != nil {
		return Plan{}, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("nats: stream %s: %w", s.stream, err)
	}
	last := info.State.LastSeq
	from := req.Prev.To
	if req.HasPrev && from > last+1 {
		return Plan{}, fmt.Errorf("nats: stream %s ends at sequence %d, before where the previous batch ended (%d): was it deleted and made again?",
			s.stream, last, from-1)
	}
	if !req.HasPrev {
		if from, err = s.startAt(ctx, st, info.State); err != nil {
			return Plan{}, err
		}
	}
	end := last + 1
	if s.cfg.byTime {
		if end, err = s.seqAt(ctx, st, req.Batch, from, last); err != nil {
			return Plan{}, err
		}
	}
	to := bound(from, end, req.Limit, s.cfg.maxBatch)
	return Plan{From: from, To: to, Parts: s.cfg.partsFor(to - from)}, nil
}

// startAt is the first sequence a new job reads.
func (s *Source[T]) startAt(ctx context.Context, st jetstream.Stream, state jetstream.StreamState) (uint64, error) {
	switch s.cfg.start {
	case startNew:
		return state.LastSeq + 1, nil
	case startSeq:
		return s.cfg.startSeq, nil
	case startTime:
		return s.seqAt(ctx, st, s.cfg.startTime, 1, state.LastSeq)
	}
	return max(state.FirstSeq, 1), nil
}

// Parts is the plan's number of partitions.
func (s *Source[T]) Parts(p Plan) int {
	if p.Len() == 0 {
		return 0
	}
	return p.Parts
}

// Count is the number of sequences the plan spans: an upper bound of the
// messages it reads, exact unless messages were deleted or a filter
// leaves some out.
func (s *Source[T]) Count(p Plan) int64 { return int64(min(p.Len(), 1<<62)) }

// Read reads partition part of plan: the messages of its sequence range,
// in sequence order, through an ephemeral consumer that starts at the
// range's first sequence and is deleted afterwards. Missing sequences
// (deleted, purged, or of subjects the filter leaves out) are skipped.
func (s *Source[T]) Read(ctx context.Context, p Plan, part int) ([]T, []sluice.BadRecord, error) {
	lo, hi := p.Range(part)
	if lo >= hi {
		return nil, nil, nil
	}
	st, err := s.conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	cc := jetstream.ConsumerConfig{
		Description:   "sluice: a task reading sequences " + fmt.Sprint(lo, "-", hi-1),
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   lo,
		AckPolicy:     jetstream.AckNonePolicy,
		// A worker killed mid-read leaves its consumer: the server
		// drops it after this long unused.
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	}
	s.cfg.setFilter(&cc)
	cons, err := st.CreateConsumer(ctx, cc)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: stream %s: making a consumer at %d: %w", s.stream, lo, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(dctx, cons.CachedInfo().Name) // else the server drops it after InactiveThreshold
	}()
	r := &reader[T]{s: s, cons: cons, next: lo, hi: hi}
	if err := r.run(ctx); err != nil {
		return nil, nil, fmt.Errorf("nats: stream %s, sequences %d-%d: %w", s.stream, lo, hi-1, err)
	}
	return r.recs, r.bad, nil
}

// setFilter sets a consumer's subject filter.
func (c *config) setFilter(cc *jetstream.ConsumerConfig) {
	switch len(c.filters) {
	case 0:
	case 1:
		cc.FilterSubject = c.filters[0]
	default:
		cc.FilterSubjects = c.filters
	}
}

// Commit records, with CommitTo, that the job completed the batch that
// read p: the durable consumer is reset to deliver from p.To.
func (s *Source[T]) Commit(ctx context.Context, _ time.Time, p Plan) error {
	if s.cfg.durable == "" || p.Len() == 0 {
		return nil
	}
	st, err := s.conn(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	made := s.durable
	s.mu.Unlock()
	if !made {
		cc := jetstream.ConsumerConfig{
			Durable:       s.cfg.durable,
			Description:   "sluice: the position of a job reading this stream (nothing consumes from it)",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckAllPolicy,
		}
		s.cfg.setFilter(&cc)
		if _, err := st.CreateOrUpdateConsumer(ctx, cc); err != nil {
			return fmt.Errorf("nats: making consumer %s on %s: %w", s.cfg.durable, s.stream, err)
		}
		s.mu.Lock()
		s.durable = true
		s.mu.Unlock()
	}
	if _, err := st.ResetConsumerToSequence(ctx, s.cfg.durable, p.To); err != nil {
		return fmt.Errorf("nats: moving consumer %s on %s to %d: %w", s.cfg.durable, s.stream, p.To, err)
	}
	return nil
}
