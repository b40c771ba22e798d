package nats

import (
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Option configures a Sink.
type Option func(*config) error

type config struct {
	// inFlight bounds one Write's messages published and not yet
	// acknowledged.
	inFlight int
	// minWindow is the shortest duplicate window the sink accepts without
	// a warning (or, with refuseShort, at all).
	minWindow   time.Duration
	refuseShort bool
	ackTimeout  time.Duration
	core        bool
	logger      *slog.Logger
	connect     []natsgo.Option
}

func defaults() config {
	return config{inFlight: 256, minWindow: 2 * time.Minute, ackTimeout: 30 * time.Second}
}

const maxInFlight = 65536

// MaxInFlight bounds how many messages one Write has published and not
// yet seen acknowledged (default 256, at most 65,536).
func MaxInFlight(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > maxInFlight {
			return fmt.Errorf("nats: MaxInFlight(%d): want 1 to %d", n, maxInFlight)
		}
		c.inFlight = n
		return nil
	}
}

// MinDuplicateWindow is the shortest duplicate window of the stream the
// sink accepts without a warning (default 2 minutes, the server's
// default window): the first Write checks the stream's and, if it is
// shorter, logs a warning, or fails with RefuseShortWindow. A batch run
// again later than the window after its first attempt is written twice;
// choose a bound above the time a failed batch may take to be rerun
// (worker loss detection, a driver restart).
func MinDuplicateWindow(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("nats: MinDuplicateWindow(%v): negative", d)
		}
		c.minWindow = d
		return nil
	}
}

// RefuseShortWindow makes a Write to a stream whose duplicate window is
// shorter than MinDuplicateWindow fail instead of warning.
func RefuseShortWindow() Option { return func(c *config) error { c.refuseShort = true; return nil } }

// AckTimeout bounds how long a message waits for its acknowledgement
// (default 30 s); a Write with one that times out fails and is retried.
func AckTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("nats: AckTimeout(%v): want > 0", d)
		}
		c.ackTimeout = d
		return nil
	}
}

// Core publishes with core NATS instead of JetStream: no acknowledgement,
// so a message lost on the way is lost (at most once per attempt), and a
// batch run again publishes again (subscribers see it twice), unless a
// stream captures the subject: it drops the copies by their message id
// within its duplicate window, as with JetStream publishes. Each Write ends
// with a flush (a round trip to the server), so what it published reached
// the server.
func Core() Option { return func(c *config) error { c.core = true; return nil } }

// Logger sets where the sink's warnings go (default slog.Default()).
func Logger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// Connect passes options to nats.Connect: credentials, TLS, a name,
// reconnection settings.
func Connect(o ...natsgo.Option) Option {
	return func(c *config) error { c.connect = append(c.connect, o...); return nil }
}
