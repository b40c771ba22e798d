package nats

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	natsgo "github.com/nats-io/nats.go"
)

// Msg is a message as a Source's decode function receives it.
type Msg struct {
	Stream   string
	Subject  string
	Sequence uint64
	// Time is when the server stored the message.
	Time   time.Time
	Header natsgo.Header
	Data   []byte
}

// Position is where the message is, as a sluice.BadRecord names it:
// "stream@sequence".
func (m Msg) Position() string { return fmt.Sprintf("%s@%d", m.Stream, m.Sequence) }

// Text decodes a message's data as UTF-8 text.
func Text(m Msg) (string, error) {
	if !utf8.Valid(m.Data) {
		return "", errors.New("nats: data is not UTF-8")
	}
	return string(m.Data), nil
}

// JSON decodes a message's data as one JSON value of type T, e.g.
// nats.New(url, "ORDERS", nats.JSON[Order]).
func JSON[T any](m Msg) (T, error) {
	var v T
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return v, fmt.Errorf("nats: %w", err)
	}
	return v, nil
}

// TimeHeader is the header Stamp and Fill put a message's event time in,
// and the one to give PlanByTime for them.
const TimeHeader = "Sluice-Time"

// maxTimeLen bounds a time header's length: RFC 3339 with nanoseconds and
// a zone offset is 35 bytes.
const maxTimeLen = 64

// FormatTime formats t as a time header's value: RFC 3339 in UTC with
// nanoseconds.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseTime parses a time header's value (RFC 3339, as FormatTime makes).
func ParseTime(s string) (time.Time, error) {
	if len(s) > maxTimeLen {
		return time.Time{}, fmt.Errorf("nats: time header of %d bytes, at most %d", len(s), maxTimeLen)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("nats: time header: %w", err)
	}
	return t, nil
}
