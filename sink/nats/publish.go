package nats

import (
	"context"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// publisher publishes one Write's records.
type publisher[T any] struct {
	s   *Sink[T]
	key sluice.OutputKey
	hdr natsgo.Header
}

// msg makes record i's message.
func (p *publisher[T]) msg(i int, r T) (*natsgo.Msg, error) {
	data, err := p.s.encode(r)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", i, err)
	}
	m := &natsgo.Msg{Subject: p.s.subject, Data: data, Header: make(natsgo.Header, len(p.hdr)+1)}
	for k, v := range p.hdr {
		m.Header[k] = v
	}
	m.Header.Set(jetstream.MsgIDHeader, MsgID(p.key, i))
	return m, nil
}

// jetstream publishes asynchronously, with at most inFlight messages not
// yet acknowledged, and waits for every acknowledgement.
func (p *publisher[T]) jetstream(ctx context.Context, js jetstream.JetStream, records []T) error {
	n := p.s.cfg.inFlight
	ring := make([]jetstream.PubAckFuture, min(n, len(records)))
	for i, r := range records {
		m, err := p.msg(i, r)
		if err != nil {
			return err
		}
		if i >= n {
			if err := wait(ctx, ring[i%n]); err != nil {
				return err
			}
		}
		if ring[i%n], err = js.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	for i := max(0, len(records)-n); i < len(records); i++ {
		if err := wait(ctx, ring[i%n]); err != nil {
			return err
		}
	}
	return nil
}

// wait waits for a publish's acknowledgement (which AckTimeout bounds).
func wait(ctx context.Context, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return fmt.Errorf("message %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// core publishes with core NATS, flushing every inFlight messages and at
// the end, all within AckTimeout.
func (p *publisher[T]) core(ctx context.Context, nc *natsgo.Conn, records []T) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.cfg.ackTimeout) // a flush needs a deadline
	defer cancel()
	for i, r := range records {
		m, err := p.msg(i, r)
		if err != nil {
			return err
		}
		if err := nc.PublishMsg(m); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if (i+1)%p.s.cfg.inFlight == 0 {
			if err := nc.FlushWithContext(ctx); err != nil {
				return err
			}
		}
	}
	return nc.FlushWithContext(ctx)
}
