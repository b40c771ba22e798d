package kafka

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	kafkasrc "github.com/sluicehq/sluice/source/kafka"
)

// The headers every record the sink writes carries: which output, batch
// (Unix milliseconds, decimal) and partition ("index/count", decimal)
// wrote it.
const (
	HeaderOutput    = "sluice-output"
	HeaderBatch     = "sluice-batch"
	HeaderPartition = "sluice-partition"
)

// DefaultMarkerTopic is the topic of markers, one per (output, batch,
// partition) committed, unless MarkerTopic says otherwise.
const DefaultMarkerTopic = "sluice-markers"

// markerPartitions is the number of partitions of a marker topic the sink
// makes.
const markerPartitions = 8

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("kafka: sink closed")

// Encoder makes a Kafka record's key and value from a record of T.
type Encoder[T any] func(T) (key, value []byte, err error)

// config holds the options.
type config struct {
	atLeastOnce bool
	marker      string
	txnPrefix   string
	txnTimeout  time.Duration
	attempts    int
	// attemptWait bounds one transactional attempt: one stuck (waiting
	// on a producer ID or a marker read) fails and the next, with a new
	// producer, fences whatever held it.
	attemptWait time.Duration
	clientOpts  []kgo.Opt
}

// Option configures a Sink (and ReadCommitted).
type Option func(*config)

// AtLeastOnce writes without transactions, with the idempotent producer
// alone: no marker, no check, faster, but a partition written again (a
// batch rerun after a failure, a speculative copy) is written twice.
// Readers may then use read_uncommitted, and must drop duplicates by the
// headers if they care.
func AtLeastOnce() Option { return func(c *config) { c.atLeastOnce = true } }

// MarkerTopic sets the topic of markers (DefaultMarkerTopic unless set),
// made with 8 partitions if missing. Its partition count must never
// change: a key's marker is looked for in the partition its hash names.
func MarkerTopic(name string) Option { return func(c *config) { c.marker = name } }

// TransactionalIDPrefix sets the prefix of the sink's transactional IDs
// (default "sluice"): the ID of output o's partition p is "prefix/o/p".
// Two jobs writing outputs of the same name must use different prefixes.
func TransactionalIDPrefix(p string) Option { return func(c *config) { c.txnPrefix = p } }

// AttemptTimeout bounds one attempt at a transactional write (default 30
// s): an attempt stuck waiting for the broker is given up, and the next
// one, with a new producer, fences whatever it waited on.
func AttemptTimeout(d time.Duration) Option { return func(c *config) { c.attemptWait = d } }

// TransactionTimeout sets the transactions' timeout (default 1 minute,
// within the broker's transaction.max.timeout.ms): a writer that dies
// mid-transaction holds back read_committed readers of its partitions
// until the next attempt fences it or this timeout aborts it.
func TransactionTimeout(d time.Duration) Option { return func(c *config) { c.txnTimeout = d } }

// ClientOptions adds franz-go client options to every client the sink
// makes (TLS, SASL, timeouts).
func ClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Sink writes a stream's records to a Kafka topic, each partition of each
// batch exactly once (see the package doc). It is safe for concurrent use.
type Sink[T any] struct {
	brokers []string
	topic   string
	encode  Encoder[T]
	cfg     config

	mu       sync.Mutex
	closed   bool
	adm      *kadm.Client // nil until needed
	producer *kgo.Client  // AtLeastOnce's, nil until needed
	// nMarker is the marker topic's partition count (0: not known yet).
	nMarker int32
	// index is what this process read of each marker partition.
	index map[int32]*markerIndex
}

// markerIndex is the committed markers of one marker partition, read
// incrementally up to next.
type markerIndex struct {
	mu   sync.Mutex
	next int64
	keys map[string]struct{}
}

// New returns a sink writing to topic on the cluster at brokers; encode
// makes each record's key and value (nil for a string or []byte stream:
// the value, no key). The topic must exist. Arguments that cannot be
// right panic.
func New[T any](brokers []string, topic string, encode Encoder[T], opts ...Option) *Sink[T] {
	s := &Sink[T]{brokers: slices.Clone(brokers), topic: topic, encode: encode,
		cfg:   config{marker: DefaultMarkerTopic, txnPrefix: "sluice", txnTimeout: time.Minute, attempts: 8, attemptWait: 30 * time.Second},
		index: make(map[int32]*markerIndex)}
	for _, o := range opts {
		o(&s.cfg)
	}
	switch {
	case len(brokers) == 0:
		panic("kafka: New: no brokers")
	case topic == "":
		panic("kafka: New: no topic")
	case s.cfg.marker == "" || s.cfg.marker == topic:
		panic("kafka: New: the marker topic must be named and differ from the output topic")
	}
	if s.encode == nil {
		if e, ok := any(Encoder[string](func(v string) ([]byte, []byte, error) { return nil, []byte(v), nil })).(Encoder[T]); ok {
			s.encode = e
		} else if e, ok := any(Encoder[[]byte](func(v []byte) ([]byte, []byte, error) { return nil, v, nil })).(Encoder[T]); ok {
			s.encode = e
		} else {
			panic(fmt.Sprintf("kafka: New: a nil encoder is only for string and []byte records, not %T", *new(T)))
		}
	}
	return s
}

func (s *Sink[T]) clientOpts(more ...kgo.Opt) []kgo.Opt {
	return append(append([]kgo.Opt{kgo.SeedBrokers(s.brokers...)}, s.cfg.clientOpts...), more...)
}

// Close closes the sink's shared clients; a Write after it fails.
func (s *Sink[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.adm != nil {
		s.adm.Close()
		s.adm = nil
	}
	if s.producer != nil {
		s.producer.Close()
		s.producer = nil
	}
	return nil
}

// admin returns the shared admin client, made on first use.
func (s *Sink[T]) admin() (*kadm.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.adm == nil {
		cl, err := kgo.NewClient(s.clientOpts()...)
		if err != nil {
			return nil, err
		}
		s.adm = kadm.NewClient(cl)
	}
	return s.adm, nil
}

// Write writes one partition of one batch. Exactly-once (the default): in
// one transaction of the key's transactional producer, the records and
// the key's marker, unless the marker is committed already; an attempt
// fenced by another attempt of the same output partition tries again
// (and then finds the marker if the other committed). AtLeastOnce: the
// records, with the idempotent producer.
func (s *Sink[T]) Write(ctx context.Context, key sluice.OutputKey, records []T) error {
	recs, err := s.records(key, records)
	if err != nil {
		return err
	}
	if s.cfg.atLeastOnce {
		if err := s.writeAtLeastOnce(ctx, recs); err != nil {
			return fmt.Errorf("kafka: write %v to %s: %w", key, s.topic, err)
		}
		return nil
	}
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.attemptWait)
		err = s.writeOnce(actx, key, recs)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if timedOut {
			err = fmt.Errorf("attempt %d took over %v: %w", attempt, s.cfg.attemptWait, err)
		}
		if err == nil || !(retriable(err) || timedOut) || attempt >= s.cfg.attempts || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(2*wait, 2*time.Second)
	}
	if err != nil {
		return fmt.Errorf("kafka: write %v to %s: %w", key, s.topic, err)
	}
	return nil
}

// retriable reports whether a transaction failed because another attempt
// of the same transactional ID fenced it, or is still ending its own: a
// new attempt (a new producer epoch) may succeed.
func retriable(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.ConcurrentTransactions) || errors.Is(err, kerr.TransactionAbortable) ||
		errors.Is(err, kerr.InvalidTxnState) || errors.Is(err, kerr.InvalidProducerIDMapping)
}

// records makes the Kafka records of one partition, with their headers.
func (s *Sink[T]) records(key sluice.OutputKey, records []T) ([]*kgo.Record, error) {
	h := Headers(key)
	out := make([]*kgo.Record, len(records))
	for i, r := range records {
		k, v, err := s.encode(r)
		if err != nil {
			return nil, fmt.Errorf("kafka: write %v: encoding record %d: %w", key, i, err)
		}
		out[i] = &kgo.Record{Topic: s.topic, Key: k, Value: v, Headers: h}
	}
	return out, nil
}

// Headers returns the headers of the records written under key.
func Headers(key sluice.OutputKey) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: HeaderOutput, Value: []byte(key.Output)},
		{Key: HeaderBatch, Value: strconv.AppendInt(nil, key.Batch.UnixMilli(), 10)},
		{Key: HeaderPartition, Value: fmt.Appendf(nil, "%d/%d", key.Partition, key.Partitions)},
	}
}

// KeyOf returns the output key a record's headers name (as Headers made
// them); ok is false if it has none. Batch times are milliseconds.
func KeyOf(headers []kgo.RecordHeader) (key sluice.OutputKey, ok bool, err error) {
	var out, batch, part []byte
	var n int
	for _, h := range headers {
		switch h.Key {
		case HeaderOutput:
			out, n = h.Value, n+1
		case HeaderBatch:
			batch, n = h.Value, n+1
		case HeaderPartition:
			part, n = h.Value, n+1
		}
	}
	if n == 0 {
		return key, false, nil
	}
	if out == nil || batch == nil || part == nil {
		return key, false, errors.New("kafka: a record with some of the sluice headers only")
	}
	ms, err := strconv.ParseInt(string(batch), 10, 64)
	if err != nil {
		return key, false, fmt.Errorf("kafka: header %s: %w", HeaderBatch, err)
	}
	p, parts, err := parsePart(string(part))
	if err != nil {
		return key, false, err
	}
	return sluice.OutputKey{Output: string(out), Batch: time.UnixMilli(ms), Partition: p, Partitions: parts}, true, nil
}

// parsePart parses "index/count".
func parsePart(s string) (int, int, error) {
	for i := range len(s) {
		if s[i] == '/' {
			p, err1 := strconv.Atoi(s[:i])
			n, err2 := strconv.Atoi(s[i+1:])
			if err1 != nil || err2 != nil || p < 0 || n <= p {
				break
			}
			return p, n, nil
		}
	}
	return 0, 0, fmt.Errorf("kafka: header %s is %q, not index/count", HeaderPartition, s)
}

// markerKey is a marker record's key: the output key, with the batch in
// milliseconds.
func markerKey(key sluice.OutputKey) string {
	return key.Output + "/" + strconv.FormatInt(key.Batch.UnixMilli(), 10) + "/" + strconv.Itoa(key.Partition)
}

// writeOnce is one attempt at a transactional write.
func (s *Sink[T]) writeOnce(ctx context.Context, key sluice.OutputKey, recs []*kgo.Record) error {
	mpart, err := s.markerPartition(ctx, key)
	if err != nil {
		return fmt.Errorf("DBG markerPartition: %w", err)
	}
	txnID := s.cfg.txnPrefix + "/" + key.Output + "/" + strconv.Itoa(key.Partition)
	cl, err := kgo.NewClient(s.clientOpts(
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(s.cfg.txnTimeout),
		kgo.RecordPartitioner(partitioner{marker: s.cfg.marker, data: kgo.StickyKeyPartitioner(nil), manual: kgo.ManualPartitioner()}),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Initialising the producer ID fences every earlier producer of this
	// ID and waits for its transaction to end (committed or aborted); a
	// marker it committed is then below the last stable offset, where the
	// check finds it.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("initialising transactional producer %s: %w", txnID, err)
	}
	done, err := s.committed(ctx, mpart, markerKey(key))
	if err != nil || done {
		if err != nil {
			return fmt.Errorf("DBG committed: %w", err)
		}
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("DBG begin: %w", err)
	}
	marker := &kgo.Record{Topic: s.cfg.marker, Partition: mpart, Key: []byte(markerKey(key)),
		Value: strconv.AppendInt(nil, int64(len(recs)), 10), Headers: Headers(key)}
	var perr error
	var pmu sync.Mutex
	for _, r := range append(slices.Clip(recs), marker) {
		// A fresh record every attempt: Produce keeps its context in the
		// record (Record.Context), and a record produced again carries the
		// earlier attempt's, cancelled when that attempt ended, which
		// failed every retry after a fenced attempt with "context
		// canceled".
		r = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = cmpOr(perr, err)
				pmu.Unlock()
			}
		})
	}
	ferr := cl.Flush(ctx)
	pmu.Lock()
	perr = cmpOr(perr, ferr)
	pmu.Unlock()
	if perr != nil {
		_ = cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return fmt.Errorf("DBG produce: %w", perr)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		_ = cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return fmt.Errorf("DBG end: %w", err)
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// partitioner places markers in the partition set on them, and data
// records by key (or stickily without one), as kgo's default does.
type partitioner struct {
	marker       string
	data, manual kgo.Partitioner
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.marker {
		return p.manual.ForTopic(t)
	}
	return p.data.ForTopic(t)
}

// markerPartition returns the marker topic's partition of key's output
// partition (all its batches, so that one transactional ID writes one
// marker partition), making the topic if missing.
func (s *Sink[T]) markerPartition(ctx context.Context, key sluice.OutputKey) (int32, error) {
	s.mu.Lock()
	n := s.nMarker
	s.mu.Unlock()
	if n == 0 {
		adm, err := s.admin()
		if err != nil {
			return 0, err
		}
		if n, err = ensureTopic(ctx, adm, s.cfg.marker, markerPartitions); err != nil {
			return 0, err
		}
		s.mu.Lock()
		s.nMarker = n
		s.mu.Unlock()
	}
	h := fnv.New32a()
	h.Write([]byte(key.Output))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(key.Partition), 10))
	return int32(h.Sum32() % uint32(n)), nil
}

// ensureTopic makes topic with n partitions if missing and returns its
// partition count.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, n int32) (int32, error) {
	if _, err := adm.CreateTopic(ctx, n, -1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("making marker topic %s: %w", topic, err)
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	d, ok := td[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0, fmt.Errorf("marker topic %s: %v", topic, d.Err)
	}
	return int32(len(d.Partitions)), nil
}

// committed reports whether key's marker is committed in marker partition
// p: it reads the partition (read_committed) from where this process last
// read it to its last stable offset.
func (s *Sink[T]) committed(ctx context.Context, p int32, key string) (bool, error) {
	s.mu.Lock()
	idx := s.index[p]
	if idx == nil {
		idx = &markerIndex{keys: make(map[string]struct{})}
		s.index[p] = idx
	}
	s.mu.Unlock()
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if _, ok := idx.keys[key]; ok {
		return true, nil
	}
	adm, err := s.admin()
	if err != nil {
		return false, err
	}
	ends, err := adm.ListCommittedOffsets(ctx, s.cfg.marker)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("listing marker topic %s: %w", s.cfg.marker, err)
	}
	end, _ := ends.Lookup(s.cfg.marker, p)
	starts, err := adm.ListStartOffsets(ctx, s.cfg.marker)
	if err != nil {
		return false, err
	}
	start, _ := starts.Lookup(s.cfg.marker, p)
	r := kafkasrc.Range{Topic: s.cfg.marker, Partition: p, From: max(idx.next, start.Offset), To: end.Offset}
	err = kafkasrc.ReadRange(ctx, s.clientOpts(), r, func(rec *kgo.Record) error {
		idx.keys[string(rec.Key)] = struct{}{}
		return nil
	})
	if err != nil {
		return false, err
	}
	idx.next = max(idx.next, end.Offset)
	_, ok := idx.keys[key]
	return ok, nil
}

// writeAtLeastOnce produces recs with the shared idempotent producer.
func (s *Sink[T]) writeAtLeastOnce(ctx context.Context, recs []*kgo.Record) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.producer == nil {
		cl, err := kgo.NewClient(s.clientOpts()...)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.producer = cl
	}
	cl := s.producer
	s.mu.Unlock()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}
