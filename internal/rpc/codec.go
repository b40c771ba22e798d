package rpc

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// CodecName is the name of the gRPC codec (and the content-subtype,
// "application/grpc+sluice-cbor") that carries every message.
const CodecName = "sluice-cbor"

// DefaultMaxMessageBytes is the message size limit when
// Security.MaxMessageBytes is 0, and the input limit of Unmarshal.
const DefaultMaxMessageBytes = 64 << 20

// Decoding limits. A message is one struct whose []byte fields carry data
// encoded elsewhere, so large counts are a sign of garbage or an attack; the
// limits stop a small input from making the decoder allocate much.
const (
	maxArrayElements = 1 << 20 // elements in one CBOR array (cbor's range: 16..2^31-1)
	maxMapPairs      = 1 << 20 // pairs in one CBOR map
	maxNestedLevels  = 32      // nesting depth (cbor's range: 4..65535)
)

// encMode is RFC 8949 core deterministic encoding (shortest forms, sorted map
// keys, no indefinite lengths), so equal messages encode to equal bytes.
// Times are RFC 3339 text with nanoseconds (the default drops them).
var encMode = func() cbor.EncMode {
	opts := cbor.CoreDetEncOptions()
	opts.Time = cbor.TimeRFC3339Nano
	em, err := opts.EncMode()
	if err != nil {
		panic(err) // the options are constant
	}
	return em
}()

var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxArrayElements: maxArrayElements,
		MaxMapPairs:      maxMapPairs,
		MaxNestedLevels:  maxNestedLevels,
		// A duplicate key is either a bug or an attempt to confuse a check
		// made on one copy of a field.
		DupMapKey: cbor.DupMapKeyEnforcedAPF,
		// Go strings may hold any bytes; the encoder writes them as they are.
		UTF8: cbor.UTF8DecodeInvalid,
	}.DecMode()
	if err != nil {
		panic(err) // the options are constant and in range
	}
	return dm
}()

// Marshal encodes v as the codec does: CBOR, core deterministic encoding.
// Only exported struct fields are encoded.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rpc: encode %T: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes b into v (a pointer) as the codec does, with its limits:
// at most DefaultMaxMessageBytes of input, and bounded element counts and
// nesting. It never panics on malformed input.
func Unmarshal(b []byte, v any) error {
	return unmarshal(b, v, DefaultMaxMessageBytes)
}

func unmarshal(b []byte, v any, maxBytes int) error {
	if len(b) > maxBytes {
		return fmt.Errorf("rpc: decode %T: message of %d bytes exceeds the %d-byte limit", v, len(b), maxBytes)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("rpc: decode %T: %w", v, err)
	}
	return nil
}

// codec is the gRPC codec. Security.NewServer and Security.Dial force it on
// both sides, so nothing is registered globally.
type codec struct {
	maxBytes int // input limit; gRPC has already checked the same limit
}

var _ encoding.CodecV2 = codec{}

func (codec) Name() string { return CodecName }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	// Materialize copies into a fresh slice. gRPC frees data when Unmarshal
	// returns, and a message type with its own UnmarshalCBOR might keep a
	// reference to its input, so the copy is what keeps that safe.
	return unmarshal(data.Materialize(), v, c.maxBytes)
}
