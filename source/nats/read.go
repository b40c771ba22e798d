package nats

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// maxIdlePulls bounds the pulls in a row that may return nothing while
// the consumer says messages are pending, before a task gives up (and is
// retried).
const maxIdlePulls = 3

// reader reads one partition's sequence range [next, hi) through
// consumer cons.
type reader[T any] struct {
	s        *Source[T]
	cons     jetstream.Consumer
	next, hi uint64
	// dseq is the delivery sequence of the last message: each one must
	// follow it, or a message was lost on the way.
	dseq uint64
	recs []T
	bad  []sluice.BadRecord
}

// run reads until the range's last sequence, or until nothing is left.
func (r *reader[T]) run(ctx context.Context) error {
	idle := 0
	for r.next < r.hi {
		n, done, err := r.pull(ctx, int(min(uint64(r.s.cfg.fetch), r.hi-r.next)))
		if err != nil || done {
			return err
		}
		if n > 0 {
			idle = 0
			continue
		}
		// Nothing came: nothing is left, or the pull ended early (the
		// client ends a pull after a second without a message). The
		// consumer's pending count tells which.
		info, err := r.cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending == 0 {
			return nil
		}
		if idle++; idle >= maxIdlePulls {
			return fmt.Errorf("%d pulls in a row returned nothing while %d messages are pending", idle, info.NumPending)
		}
	}
	return nil
}

// pull asks for up to n messages that are there now and takes them; done
// is true once the range is read.
func (r *reader[T]) pull(ctx context.Context, n int) (got int, done bool, err error) {
	b, err := r.cons.FetchNoWait(n)
	if err != nil {
		return 0, false, err
	}
	msgs := b.Messages()
	for {
		select {
		case <-ctx.Done():
			return got, false, ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				return got, false, b.Error()
			}
			got++
			if done, err := r.take(m); err != nil || done {
				return got, done, err
			}
		}
	}
}

// take decodes one message into recs or bad; done is true if it is the
// range's last or past it, or nothing follows it.
func (r *reader[T]) take(m jetstream.Msg) (done bool, err error) {
	md, err := m.Metadata()
	if err != nil {
		return false, err
	}
	if md.Sequence.Consumer != r.dseq+1 {
		return false, fmt.Errorf("delivery %d came after %d: messages were lost on the way", md.Sequence.Consumer, r.dseq)
	}
	r.dseq = md.Sequence.Consumer
	seq := md.Sequence.Stream
	if seq < r.next {
		return false, fmt.Errorf("sequence %d came after %d", seq, r.next-1)
	}
	if seq >= r.hi {
		return true, nil
	}
	r.next = seq + 1
	msg := Msg{Stream: r.s.stream, Subject: m.Subject(), Sequence: seq, Time: md.Timestamp, Header: m.Headers(), Data: m.Data()}
	v, err := r.s.decode(msg)
	if err != nil {
		r.bad = append(r.bad, sluice.BadRecord{Position: msg.Position(), Value: msg.Data, Error: err.Error()})
	} else {
		r.recs = append(r.recs, v)
	}
	return seq == r.hi-1 || md.NumPending == 0, nil
}
