package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// seqAt is the first sequence in [lo, last+1] at or after which the
// first message (of the filter) is stamped at or after t: last+1 if none
// is. Stamps must not decrease along the stream; it is a binary search of
// O(log(last-lo)) message gets.
func (s *Source[T]) seqAt(ctx context.Context, st jetstream.Stream, t time.Time, lo, last uint64) (uint64, error) {
	subject := ">"
	if len(s.cfg.filters) == 1 {
		subject = s.cfg.filters[0]
	}
	hi := last + 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := st.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && m.Sequence > last {
			hi = mid // nothing from mid to last
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("nats: stream %s: getting the message at or after %d: %w", s.stream, mid, err)
		}
		at, err := s.stampOf(m)
		if err != nil {
			return 0, err
		}
		if at.Before(t) {
			lo = m.Sequence + 1 // every sequence up to m's has m as its next message
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// stampOf is the time PlanByTime orders message m by.
func (s *Source[T]) stampOf(m *jetstream.RawStreamMsg) (time.Time, error) {
	if s.cfg.timeHeader == "" {
		return m.Time, nil
	}
	t, err := ParseTime(m.Header.Get(s.cfg.timeHeader))
	if err != nil {
		return time.Time{}, fmt.Errorf("nats: %s@%d has no valid %s header to plan by: %w", s.stream, m.Sequence, s.cfg.timeHeader, err)
	}
	return t, nil
}

// Stamp makes a message for subject with data and event time t in its
// TimeHeader, for PlanByTime(TimeHeader).
func Stamp(subject string, data []byte, t time.Time) *natsgo.Msg {
	m := natsgo.NewMsg(subject)
	m.Data = data
	m.Header.Set(TimeHeader, FormatTime(t))
	return m
}

// fillInFlight bounds Fill's messages published and not yet acknowledged.
const fillInFlight = 256

// Fill publishes msgs in order through js (to subjects a stream captures)
// and waits until the server stored each one, with at most 256 not yet
// acknowledged; it returns the first and last sequence they got. It is how
// a stream is filled ahead of time for a job that plans by time (see
// PlanByTime and Stamp): it refuses messages whose TimeHeader stamps
// decrease, before publishing any. Messages published by others at the
// same time interleave with them. On error, some messages may be stored.
func Fill(ctx context.Context, js jetstream.JetStream, msgs []*natsgo.Msg) (first, last uint64, err error) {
	if err := checkStamps(msgs); err != nil {
		return 0, 0, err
	}
	var acks []jetstream.PubAckFuture
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case a := <-f.Ok():
			if first == 0 || a.Sequence < first {
				first = a.Sequence
			}
			last = max(last, a.Sequence)
			return nil
		case err := <-f.Err():
			return fmt.Errorf("nats: publishing to %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i, m := range msgs {
		if i >= fillInFlight {
			if err := wait(acks[i-fillInFlight]); err != nil {
				return first, last, err
			}
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return first, last, fmt.Errorf("nats: publishing to %s: %w", m.Subject, err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks[max(0, len(acks)-fillInFlight):] {
		if err := wait(f); err != nil {
			return first, last, err
		}
	}
	return first, last, nil
}

// checkStamps checks that the messages' stamps do not decrease.
func checkStamps(msgs []*natsgo.Msg) error {
	var prev time.Time
	for i, m := range msgs {
		v := m.Header.Get(TimeHeader)
		if v == "" {
			continue
		}
		t, err := ParseTime(v)
		if err != nil {
			return fmt.Errorf("nats: message %d: %w", i, err)
		}
		if t.Before(prev) {
			return fmt.Errorf("nats: message %d is stamped %s, before the one ahead of it (%s): PlanByTime needs stamps in order", i, v, FormatTime(prev))
		}
		prev = t
	}
	return nil
}
