package nats

import (
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Option configures a Source.
type Option func(*config) error

// start is where a new job starts reading (the first batch, with no
// previous plan).
type start int

const (
	startFirst start = iota // the stream's first stored sequence
	startNew                // after the last sequence stored at the first plan
	startSeq                // config.startSeq
	startTime               // the first message stored at or after config.startTime
)

// config is what the options set.
type config struct {
	filters   []string
	start     start
	startSeq  uint64
	startTime time.Time
	// perPart and parts shape the partitions: parts > 0 is a fixed
	// count, otherwise one partition per perPart sequences, at most
	// maxParts.
	perPart  uint64
	parts    int
	maxParts int
	// maxBatch caps the sequences of a batch (0: none).
	maxBatch uint64
	// byTime plans batch t as the messages stamped before t; timeHeader
	// is where the stamp is ("": the time the server stored it).
	byTime     bool
	timeHeader string
	// durable, if set, is the consumer Commit moves to the end of each
	// completed batch, for monitoring.
	durable string
	// fetch is how many messages one pull request asks for.
	fetch   int
	connect []natsgo.Option
}

func defaults() config {
	return config{perPart: 10_000, maxParts: 64, fetch: 256}
}

// Limits on the options, so that a typo cannot make a task hold a
// million pull requests or a plan a million partitions.
const (
	maxPartsLimit = 4096
	maxFetch      = 10_000
)

// Filter reads only the messages whose subject matches one of subjects
// (NATS wildcards allowed). Sequences of other subjects are gaps, still
// counted by Count (see the package doc).
func Filter(subjects ...string) Option {
	return func(c *config) error {
		for _, s := range subjects {
			if s == "" {
				return fmt.Errorf("nats: empty filter subject")
			}
		}
		c.filters = append(c.filters, subjects...)
		return nil
	}
}

// StartFirst makes a new job start at the stream's first stored message
// (the default).
func StartFirst() Option { return func(c *config) error { c.start = startFirst; return nil } }

// StartNew makes a new job read only the messages stored after its first
// batch was planned.
func StartNew() Option { return func(c *config) error { c.start = startNew; return nil } }

// StartSequence makes a new job start at stream sequence seq (>= 1).
func StartSequence(seq uint64) Option {
	return func(c *config) error {
		if seq == 0 {
			return fmt.Errorf("nats: start sequence 0: sequences start at 1")
		}
		c.start, c.startSeq = startSeq, seq
		return nil
	}
}

// StartTime makes a new job start at the first message stored at or after
// t (by the server's store time; with PlanByTime and a header, by the
// header's time).
func StartTime(t time.Time) Option {
	return func(c *config) error {
		if t.IsZero() {
			return fmt.Errorf("nats: zero start time")
		}
		c.start, c.startTime = startTime, t
		return nil
	}
}

// PerPart makes each batch read by one partition per n sequences (the
// default is 10,000), and at most max partitions (default 64, at most
// 4096).
func PerPart(n uint64, max int) Option {
	return func(c *config) error {
		if n == 0 || max <= 0 || max > maxPartsLimit {
			return fmt.Errorf("nats: PerPart(%d, %d): want n >= 1 and 1 <= max <= %d", n, max, maxPartsLimit)
		}
		c.perPart, c.maxParts, c.parts = n, max, 0
		return nil
	}
}

// Partitions makes each non-empty batch read by n partitions (fewer if it
// has fewer than n sequences), 1 <= n <= 4096.
func Partitions(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > maxPartsLimit {
			return fmt.Errorf("nats: Partitions(%d): want 1 to %d", n, maxPartsLimit)
		}
		c.parts = n
		return nil
	}
}

// MaxPerBatch caps each batch at n sequences, on top of the engine's
// backpressure and sluice.MaxRate (which the source is given as
// PlanRequest.Limit). It is per batch because a source is not told the
// batch interval; sluice.MaxRate is the per-second cap for every input.
func MaxPerBatch(n uint64) Option {
	return func(c *config) error {
		if n == 0 {
			return fmt.Errorf("nats: MaxPerBatch(0): want at least 1")
		}
		c.maxBatch = n
		return nil
	}
}

// PlanByTime makes batch t read the messages stamped before t instead of
// every message stored when it is planned: by the time in the header
// named header (as Stamp and Fill set it, RFC 3339 with nanoseconds; see
// TimeHeader), or, if header is "", by the time the server stored the
// message. The stamps must not decrease along the stream (Fill checks the
// ones it publishes): the source finds the first message stamped at or
// after t by a binary search over sequences. Every message the filter
// reads (with several Filter subjects, every message of the stream) must
// carry a valid stamp, or planning fails, naming it.
//
// With a stream filled ahead of time, each batch's plan is then a pure
// function of the batch times (the start position, the batch before it
// and this one), whatever restarts or failures happen, as long as no
// limit cuts a batch short (run with sluice.NoBackpressure and without
// MaxPerBatch or sluice.MaxRate).
func PlanByTime(header string) Option {
	return func(c *config) error { c.byTime, c.timeHeader = true, header; return nil }
}

// CommitTo makes Commit record the job's progress in a durable consumer
// named durable, for monitoring: after each completed batch it is reset
// to deliver from the batch's end, so `nats consumer info STREAM durable`
// shows the job's position as its ack floor and its lag as its pending
// messages. Nothing consumes from it. It is made on the first Commit (a
// pull consumer, ack policy all, with the source's filter) and needs a
// server of version 2.14 or later (consumer reset); Commit's errors are
// reported by the engine and do not stop the job.
func CommitTo(durable string) Option {
	return func(c *config) error {
		if durable == "" {
			return fmt.Errorf("nats: empty durable name")
		}
		c.durable = durable
		return nil
	}
}

// FetchSize sets how many messages one pull request of a task asks for
// (default 256, at most 10,000). A task holds at most that many messages
// it has not yet decoded, so at most n × the server's max_payload bytes.
func FetchSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > maxFetch {
			return fmt.Errorf("nats: FetchSize(%d): want 1 to %d", n, maxFetch)
		}
		c.fetch = n
		return nil
	}
}

// Connect passes options to nats.Connect: credentials, TLS, a name,
// reconnection settings.
func Connect(o ...natsgo.Option) Option {
	return func(c *config) error { c.connect = append(c.connect, o...); return nil }
}
