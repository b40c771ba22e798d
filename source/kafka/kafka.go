package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
)

// Range is one topic partition's share of a batch: the offsets [From, To).
// Under read_committed a range holds at most To−From records: offsets of
// transaction markers and of aborted records are in it but read as
// nothing, and so are the offsets a compacted topic removed.
type Range struct {
	Topic     string
	Partition int32
	From, To  int64
}

// Plan is one batch of a Source: a range for every partition the source
// knows (an empty one, From == To, for a partition with nothing to read),
// sorted by topic and partition. It is plain data: the engine records it
// in the metadata checkpoint, and a batch run again reads it again.
type Plan struct {
	Ranges []Range
}

// Decoder makes a record of type T from a Kafka record. An error makes the
// record a sluice.BadRecord (see sluice.DeadLetter).
type Decoder[T any] func(*kgo.Record) (T, error)

// String decodes a record's value as text: it must be valid UTF-8.
func String(r *kgo.Record) (string, error) {
	if !utf8.Valid(r.Value) {
		return "", errors.New("kafka: the value is not valid UTF-8")
	}
	return string(r.Value), nil
}

// Bytes decodes a record's value as it is.
func Bytes(r *kgo.Record) ([]byte, error) { return r.Value, nil }

// Start is where a new job starts reading partitions it never read.
type Start int

const (
	// Earliest starts at each partition's first record still kept.
	Earliest Start = iota
	// Latest starts at each partition's end when the job plans its
	// first batch: only records written after it are read.
	Latest
)

// config holds the options.
type config struct {
	regex      bool
	start      Start
	byTime     bool
	perBatch   int64 // most records per partition per batch (0: no limit)
	group      string
	partMax    int64 // most offsets per part (0: one part per range)
	dataLoss   bool
	readWait   time.Duration
	clientOpts []kgo.Opt
}

// Option configures a Source.
type Option func(*config)

// Regex makes the topics given to New regular expressions, matched (whole)
// against the cluster's topics at every batch: a new matching topic is read
// from its start offset from the batch that sees it.
func Regex() Option { return func(c *config) { c.regex = true } }

// StartAt sets where a new job starts reading (Earliest unless set).
// Partitions added while the job runs are read from their start.
func StartAt(s Start) Option { return func(c *config) { c.start = s } }

// ReplayByTime plans by record time: batch t reads, per partition, the
// records whose timestamp (milliseconds) is before t, from where the
// batch before ended (as far as the partition's committed end). A topic
// filled ahead of time with timestamps that grow along each partition
// (producer CreateTime) then gets plans that are a pure function of the
// batch times: the same batches whenever the job runs, which is what a
// replay or a comparison with another run needs. A record written after
// its batch was planned, with a timestamp before it, is read by the next
// batch.
func ReplayByTime() Option { return func(c *config) { c.byTime = true } }

// MaxRatePerPartition bounds each partition's range to perSecond records
// per second of batch interval (the context's batch interval, given as
// interval): at most ⌈perSecond × interval⌉ offsets per batch. Records
// beyond wait for later batches.
func MaxRatePerPartition(perSecond float64, interval time.Duration) Option {
	return func(c *config) {
		c.perBatch = int64(perSecond*interval.Seconds() + 0.999999)
		if perSecond > 0 && c.perBatch < 1 {
			c.perBatch = 1
		}
	}
}

// Group names a consumer group whose committed offsets the source sets to
// the end of each completed batch (SourceCommitter), so that the usual
// lag monitoring sees the job. Exactly-once never depends on them: a
// restarted job goes on from its metadata checkpoint.
func Group(name string) Option { return func(c *config) { c.group = name } }

// SplitAbove splits a partition's range of more than n offsets into parts
// of at most n, read by separate tasks (0, the default: one task per
// partition).
func SplitAbove(n int64) Option { return func(c *config) { c.partMax = max(n, 0) } }

// AllowDataLoss makes a plan skip the records that retention deleted
// before the job read them (a partition whose next offset is below its
// start) instead of failing the batch.
func AllowDataLoss() Option { return func(c *config) { c.dataLoss = true } }

// ReadTimeout bounds how long reading one part may take (default 2
// minutes): a broker that stays away fails the task, which is retried.
func ReadTimeout(d time.Duration) Option { return func(c *config) { c.readWait = d } }

// ClientOptions adds franz-go client options to every client the source
// makes (TLS, SASL, timeouts). Options that choose what to consume are
// the source's own and must not be given.
func ClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Source reads Kafka topics as a sluice.Source: Plan, on the driver, fixes
// each batch's offset range per partition; Read, in a task, reads exactly
// one range with read_committed. It is safe for concurrent use; it
// connects on first use.
type Source[T any] struct {
	brokers []string
	topics  []string
	res     []*regexp.Regexp // the topics as expressions, with Regex
	decode  Decoder[T]
	cfg     config

	mu     sync.Mutex
	adm    *kadm.Client // nil until the first Plan or Commit
	closed bool
}

// ErrClosed is returned by a Plan or Commit after Close.
var ErrClosed = errors.New("kafka: source closed")

// New returns a source reading topics from the cluster at brokers. decode
// makes records of T; nil decodes a string (String) or []byte (Bytes)
// source. Arguments that cannot be right (no brokers or topics, a bad
// expression, a nil decoder for another type) panic.
func New[T any](brokers, topics []string, decode Decoder[T], opts ...Option) *Source[T] {
	s := &Source[T]{brokers: slices.Clone(brokers), topics: slices.Clone(topics), decode: decode, cfg: config{readWait: 2 * time.Minute}}
	for _, o := range opts {
		o(&s.cfg)
	}
	switch {
	case len(brokers) == 0:
		panic("kafka: New: no brokers")
	case len(topics) == 0:
		panic("kafka: New: no topics")
	}
	if s.decode == nil {
		if d, ok := any(Decoder[string](String)).(Decoder[T]); ok {
			s.decode = d
		} else if d, ok := any(Decoder[[]byte](Bytes)).(Decoder[T]); ok {
			s.decode = d
		} else {
			panic(fmt.Sprintf("kafka: New: a nil decoder is only for string and []byte records, not %T", *new(T)))
		}
	}
	if s.cfg.regex {
		for _, t := range topics {
			s.res = append(s.res, regexp.MustCompile("^(?:"+t+")$"))
		}
	}
	return s
}

// clientOpts are the options of every client: the brokers, then the
// user's.
func (s *Source[T]) clientOpts(more ...kgo.Opt) []kgo.Opt {
	return append(append([]kgo.Opt{kgo.SeedBrokers(s.brokers...)}, s.cfg.clientOpts...), more...)
}

// admin returns the driver's admin client, made on first use.
func (s *Source[T]) admin() (*kadm.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.adm == nil {
		// Metadata at most 10 ms old (kgo caches it for 5 s by default):
		// a plan sees the partitions and topics made before it.
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.MetadataMinAge(10 * time.Millisecond)}, s.clientOpts()...)...)
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		s.adm = kadm.NewClient(cl)
	}
	return s.adm, nil
}

// Close closes the source's admin client; Reads make their own clients.
func (s *Source[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.adm != nil {
		s.adm.Close()
		s.adm = nil
	}
	return nil
}

// Parts returns the number of tasks reading plan: one per non-empty range,
// or more with SplitAbove.
func (s *Source[T]) Parts(plan Plan) int {
	n := 0
	for _, r := range plan.Ranges {
		n += s.pieces(r)
	}
	return n
}

// pieces is the number of parts r is read in.
func (s *Source[T]) pieces(r Range) int {
	n := r.To - r.From
	switch {
	case n <= 0:
		return 0
	case s.cfg.partMax <= 0:
		return 1
	}
	return int((n + s.cfg.partMax - 1) / s.cfg.partMax)
}

// part returns the offsets part i of plan reads.
func (s *Source[T]) part(plan Plan, i int) (Range, bool) {
	for _, r := range plan.Ranges {
		k := s.pieces(r)
		if i >= k {
			i -= k
			continue
		}
		if k > 1 {
			from := r.From + int64(i)*s.cfg.partMax
			r.From, r.To = from, min(from+s.cfg.partMax, r.To)
		}
		return r, true
	}
	return Range{}, false
}

// Count returns the number of offsets plan spans: the most records it
// holds (fewer with transactions or compaction).
func (s *Source[T]) Count(plan Plan) int64 {
	var n int64
	for _, r := range plan.Ranges {
		n += max(r.To-r.From, 0)
	}
	return n
}

// Read reads part of plan with read_committed: the committed records of
// its range, in offset order. A record decode refuses becomes a bad
// record at "topic/partition@offset".
func (s *Source[T]) Read(ctx context.Context, plan Plan, part int) ([]T, []sluice.BadRecord, error) {
	r, ok := s.part(plan, part)
	if !ok {
		return nil, nil, fmt.Errorf("kafka: the plan has no part %d", part)
	}
	if s.cfg.readWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.readWait)
		defer cancel()
	}
	recs := make([]T, 0, min(r.To-r.From, 1<<16))
	var bad []sluice.BadRecord
	err := ReadRange(ctx, s.clientOpts(), r, func(rec *kgo.Record) error {
		v, err := s.decode(rec)
		if err != nil {
			bad = append(bad, sluice.BadRecord{Position: Position(rec.Topic, rec.Partition, rec.Offset), Value: rec.Value, Error: err.Error()})
			return nil
		}
		recs = append(recs, v)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return recs, bad, nil
}

// ReadRange reads the committed records of r (read_committed) in offset
// order with a client of its own, made with opts (which must name the
// brokers), calling each for every record that is not a transaction
// marker. It ends once it has seen offset r.To−1 or beyond: every offset
// below r.To must be decided (below the partition's last stable offset,
// as a Plan's ranges are), else it waits for the transaction that holds
// it. An error of each stops it and is returned.
func ReadRange(ctx context.Context, opts []kgo.Opt, r Range, each func(*kgo.Record) error) error {
	if r.To <= r.From {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.From)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers are kept to see the offsets they hold: a range that
		// ends with a transaction's commit or abort marker ends there.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
	)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	next := r.From
	for next < r.To {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafka: reading %s (up to %d): %w", Position(r.Topic, r.Partition, next), r.To, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("kafka: reading %s: %w", Position(t, p, next), err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var stop error
		fs.EachRecord(func(rec *kgo.Record) {
			if stop != nil || rec.Offset < next || next >= r.To {
				return
			}
			if rec.Offset >= r.To {
				next = r.To
				return
			}
			next = rec.Offset + 1
			if !rec.Attrs.IsControl() {
				stop = each(rec)
			}
		})
		if stop != nil {
			return stop
		}
	}
	return nil
}

// Position formats a record's position as a BadRecord gives it:
// "topic/partition@offset".
func Position(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d@%d", topic, partition, offset)
}

// ParsePosition parses a position Position made: "topic/partition@offset"
// (a dead letter's, to read the record again). Topic names hold neither
// '/' nor '@'.
func ParsePosition(s string) (topic string, partition int32, offset int64, err error) {
	slash := strings.IndexByte(s, '/')
	at := strings.LastIndexByte(s, '@')
	if slash <= 0 || at < slash || strings.IndexByte(s[slash+1:], '/') >= 0 || strings.IndexByte(s[:at], '@') >= 0 {
		return "", 0, 0, fmt.Errorf("kafka: position %q is not topic/partition@offset", s)
	}
	p, err := strconv.ParseInt(s[slash+1:at], 10, 32)
	if err != nil || p < 0 {
		return "", 0, 0, fmt.Errorf("kafka: position %q: bad partition", s)
	}
	o, err := strconv.ParseInt(s[at+1:], 10, 64)
	if err != nil || o < 0 {
		return "", 0, 0, fmt.Errorf("kafka: position %q: bad offset", s)
	}
	return s[:slash], int32(p), o, nil
}
