package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// The headers a Sink sets on every message, besides jetstream.MsgIDHeader
// (Nats-Msg-Id, see MsgID).
const (
	OutputHeader    = "Sluice-Output"
	BatchHeader     = "Sluice-Batch"     // the batch time, RFC 3339 with nanoseconds, UTC
	PartitionHeader = "Sluice-Partition" // "partition/partitions"
)

// ErrClosed is returned by a Sink used after Close.
var ErrClosed = errors.New("nats: sink closed")

// Sink publishes a stream's records to a NATS subject, each as one
// message, exactly once within the duplicate window of the JetStream
// stream that captures the subject. Make it with New and give it to
// sluice.WriteTo. It is safe for concurrent use and connects on first
// use.
type Sink[T any] struct {
	url     string
	subject string
	encode  func(T) ([]byte, error)
	cfg     config
	// err is an invalid option or argument, returned by every Write.
	err error

	mu      sync.Mutex
	nc      *natsgo.Conn
	js      jetstream.JetStream
	checked bool // the stream's duplicate window was checked
	closed  bool
}

var _ sluice.Sink[string] = (*Sink[string])(nil)

// New makes a sink publishing to subject on the server at url (a NATS
// URL, or several separated by commas), encoding each record with encode
// (Text, JSON, or a function of your own).
func New[T any](url, subject string, encode func(T) ([]byte, error), opts ...Option) *Sink[T] {
	s := &Sink[T]{url: url, subject: subject, encode: encode, cfg: defaults()}
	switch {
	case subject == "" || strings.ContainsAny(subject, "*> \t\r\n"):
		s.err = fmt.Errorf("nats: cannot publish to subject %q", subject)
	case encode == nil:
		s.err = errors.New("nats: nil encode function")
	}
	for _, o := range opts {
		if err := o(&s.cfg); err != nil && s.err == nil {
			s.err = err
		}
	}
	if s.cfg.logger == nil {
		s.cfg.logger = slog.Default()
	}
	return s
}

// MsgID is the message id (Nats-Msg-Id) of record index of the partition
// key names: output/batch-ns/partition/index. The numbers are the last
// three parts, so two keys never share an id.
func MsgID(key sluice.OutputKey, index int) string {
	return key.Output + "/" + strconv.FormatInt(key.Batch.UnixNano(), 10) + "/" + strconv.Itoa(key.Partition) + "/" + strconv.Itoa(index)
}

// Write publishes records, the partition key names, and waits until the
// stream stored each one (or, with Core, until the server has them). A
// Write run again for the same key publishes the same messages with the
// same ids, which the stream drops as duplicates within its window.
func (s *Sink[T]) Write(ctx context.Context, key sluice.OutputKey, records []T) error {
	if s.err != nil {
		return s.err
	}
	if len(records) == 0 {
		return nil
	}
	nc, js, err := s.conn(ctx)
	if err != nil {
		return err
	}
	hdr := natsgo.Header{
		OutputHeader:    {key.Output},
		BatchHeader:     {key.Batch.UTC().Format(time.RFC3339Nano)},
		PartitionHeader: {strconv.Itoa(key.Partition) + "/" + strconv.Itoa(key.Partitions)},
	}
	p := &publisher[T]{s: s, key: key, hdr: hdr}
	if s.cfg.core {
		err = p.core(ctx, nc, records)
	} else {
		err = p.jetstream(ctx, js, records)
	}
	if err != nil {
		return fmt.Errorf("nats: writing %s to %s: %w", key, s.subject, err)
	}
	return nil
}

// conn returns the connection, connecting the first time, and checks the
// stream's duplicate window once.
func (s *Sink[T]) conn(ctx context.Context) (*natsgo.Conn, jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if s.nc == nil {
		nc, err := natsgo.Connect(s.url, s.cfg.connect...)
		if err != nil {
			return nil, nil, fmt.Errorf("nats: connecting to %s: %w", s.url, err)
		}
		// The sink bounds each Write's messages in flight; the client's
		// own bound only has to be above the sum over concurrent Writes.
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxInFlight),
			jetstream.WithPublishAsyncTimeout(s.cfg.ackTimeout))
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("nats: %w", err)
		}
		s.nc, s.js = nc, js
	}
	if !s.checked && !s.cfg.core {
		if err := s.checkWindow(ctx); err != nil {
			return nil, nil, err
		}
		s.checked = true
	}
	return s.nc, s.js, nil
}

// checkWindow checks that a stream captures the subject and compares its
// duplicate window with MinDuplicateWindow (s.mu held).
func (s *Sink[T]) checkWindow(ctx context.Context) error {
	name, err := s.js.StreamNameBySubject(ctx, s.subject)
	if err != nil {
		return fmt.Errorf("nats: no JetStream stream captures subject %s on %s: %w", s.subject, s.url, err)
	}
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", name, err)
	}
	w := st.CachedInfo().Config.Duplicates
	if w >= s.cfg.minWindow {
		return nil
	}
	if s.cfg.refuseShort {
		return fmt.Errorf("nats: stream %s drops duplicate messages within %v only, less than the %v asked (MinDuplicateWindow): a batch rerun later than that would be written twice",
			name, w, s.cfg.minWindow)
	}
	s.cfg.logger.Warn("nats: the stream's duplicate window is short: a batch rerun later than it after its first attempt is written twice",
		"stream", name, "subject", s.subject, "window_ms", w.Milliseconds(), "want_ms", s.cfg.minWindow.Milliseconds())
	return nil
}

// Close closes the sink's connection.
func (s *Sink[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
	return nil
}

// Text encodes a string as its bytes.
func Text(s string) ([]byte, error) { return []byte(s), nil }

// JSON encodes a record as JSON.
func JSON[T any](v T) ([]byte, error) { return json.Marshal(v) }
