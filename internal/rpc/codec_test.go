package rpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/grpc/mem"
)

// message is a representative control message: scalars, encoded data,
// nested structs, slices, maps, a pointer and a time.
type message struct {
	Job      string
	Stage    int64
	Attempt  uint32
	Ratio    float64
	Done     bool
	Payload  []byte // already encoded records
	Tasks    []task
	Labels   map[string]string
	Parent   *task
	Deadline time.Time
	hidden   int // not exported, so not encoded
}

type task struct {
	ID        uint64
	Partition int
	Deps      []uint64
}

func sampleMessage() message {
	return message{
		Job: "wordcount", Stage: -3, Attempt: 2, Ratio: 0.25, Done: true,
		Payload:  []byte{0, 1, 2, 0xff},
		Tasks:    []task{{ID: 1, Partition: 0}, {ID: 2, Partition: 1, Deps: []uint64{1}}},
		Labels:   map[string]string{"b": "2", "a": "1", "c": "3"},
		Parent:   &task{ID: 9},
		Deadline: time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC),
		hidden:   7,
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	in := sampleMessage()
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out message
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.hidden = 0
	again, _ := Marshal(out)
	if !bytes.Equal(b, again) || !out.Deadline.Equal(in.Deadline) || out.Labels["c"] != "3" || out.Parent.ID != 9 {
		t.Fatalf("round trip changed the message:\n in %+v\nout %+v", in, out)
	}
}

// Core deterministic encoding: equal values give equal bytes whatever the
// map's iteration order.
func TestMarshalDeterministic(t *testing.T) {
	first, err := Marshal(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := Marshal(sampleMessage())
		if !bytes.Equal(b, first) {
			t.Fatal("two encodings of one value differ")
		}
	}
}

func TestUnmarshalLimits(t *testing.T) {
	var nested any
	for range maxNestedLevels + 1 {
		nested = []any{nested}
	}
	deep, err := cbor.Marshal(nested)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		is   func(error) bool
	}{
		// An array header claiming 2^21 elements in a 5-byte input.
		{"array elements", []byte{0x9a, 0x00, 0x20, 0x00, 0x00}, isErr[*cbor.MaxArrayElementsError]},
		{"map pairs", []byte{0xba, 0x00, 0x20, 0x00, 0x00}, isErr[*cbor.MaxMapPairsError]},
		{"nesting", deep, isErr[*cbor.MaxNestedLevelError]},
	}
	for _, tt := range tests {
		var v any
		err := Unmarshal(tt.in, &v)
		if err == nil || !strings.HasPrefix(err.Error(), "rpc: decode ") || !tt.is(err) {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
	var v any
	err = unmarshal(make([]byte, 11), &v, 10)
	if err == nil || !strings.Contains(err.Error(), "message of 11 bytes exceeds the 10-byte limit") {
		t.Errorf("size limit: %v", err)
	}
}

func TestUnmarshalRejectsDuplicateKeys(t *testing.T) {
	// {"Job": "a", "Job": "b"}
	b := []byte{0xa2, 0x63, 'J', 'o', 'b', 0x61, 'a', 0x63, 'J', 'o', 'b', 0x61, 'b'}
	var m message
	if err := Unmarshal(b, &m); err == nil {
		t.Errorf("decoded a map with a duplicate key into %+v", m)
	}
}

// The gRPC codec copies what it decodes out of gRPC's buffers, which gRPC
// reuses once Unmarshal returns.
func TestCodecDoesNotAliasBuffers(t *testing.T) {
	c := codec{maxBytes: DefaultMaxMessageBytes}
	if c.Name() != "sluice-cbor" {
		t.Errorf("Name() = %q", c.Name())
	}
	in := sampleMessage()
	data, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	raw := data.Materialize()
	half := len(raw) / 2
	split := mem.BufferSlice{mem.SliceBuffer(raw[:half]), mem.SliceBuffer(raw[half:])}
	var out message
	if err := c.Unmarshal(split, &out); err != nil {
		t.Fatal(err)
	}
	clear(raw)
	if !bytes.Equal(out.Payload, in.Payload) || out.Job != in.Job {
		t.Fatalf("the decoded message changed with the buffer: %+v", out)
	}
}

func isErr[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}
