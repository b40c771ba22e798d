// Package codec encodes the records that move between Sluice processes
// (shuffle outputs, replicated blocks, checkpointed state) as batches.
//
// # Use
//
//	c := codec.For[string]()          // once, when the graph is built
//	buf := c.Append(buf[:0], records) // on the hot path
//	records, err := c.Decode(buf)     // err wraps ErrCorrupt or ErrTooLarge
//
// Partitioners use Hasher, whose values never change between versions.
// There are no goroutines in this package; codecs and hashers are immutable
// and safe for concurrent use.
//
// # Format
//
// A batch is a record count, then the records back to back. Fast paths
// (hand-written, no reflection, no per-record allocation beyond what the
// type needs: one per string or []byte) use a uvarint count and:
//   - string, []byte: uvarint length, then the bytes;
//   - bool: one byte, 0 or 1;
//   - int, int8..int64, time.Duration: zigzag varint;
//   - uint, uint8..uint64, uintptr: uvarint;
//   - float32, float64: IEEE 754 bits, little endian (NaN payloads and -0
//     survive);
//   - time.Time: Unix seconds (zigzag varint), then nanoseconds (uvarint);
//     decoded in UTC, without monotonic reading or location;
//   - Pair: the A then the B of each record, interleaved;
//   - Slice: per record, a uvarint count then the elements;
//   - Convert: each record as its wire form.
//
// Named types (type UserID string) encode exactly like their underlying
// type. Generic containers such as sluice's KV[K,V] implement Composite
// and build their codec from Pair and Slice. Every other type falls back to
// CBOR (RFC 8949): the batch is one definite-length CBOR array of records,
// encoded deterministically (sorted map keys, shortest forms) with
// time.Time as RFC 3339 text with nanoseconds. As with encoding/json, only
// exported struct fields are encoded.
//
// Data is never dropped silently: a type that CBOR would encode with loss
// (a struct, at any depth, with an unexported field, a field tagged "-", or
// a MarshalBinary promoted from an embedded field) still gets a codec from
// For, since local mode never encodes, but Portable reports the error, and
// Append panics and Decode fails with it (ErrNotPortable). A user's type
// (whose package cannot import this internal one) exports its fields or has
// MarshalBinary and UnmarshalBinary methods; the engine's types have a
// SluiceCodec, which Convert builds from a wire form:
//
//	func (p point) SluiceCodec() any {
//		return codec.Convert(codec.For[[2]int](),
//			func(p point) [2]int { return [2]int{p.x, p.y} },
//			func(w [2]int) point { return point{w[0], w[1]} })
//	}
//
// RFC 3339 holds years 0000-9999 only:
// Append panics on a record with a time.Time outside them, and Decode
// rejects such records (it checks that each decoded record of a type that
// can hold a time.Time encodes again); the time.Time fast path has no such
// limit. For[[]E] also uses CBOR; Slice(For[E]()) is the fast path.
//
// # Limits
//
// Decode reads untrusted bytes from the network, so it never panics and is
// bounded by Limits: buffer size, record count (and every nested count),
// element size and CBOR nesting depth. Counts and lengths are checked
// against the bytes left before allocating, so a short buffer claiming 1e9
// records fails at once with ErrCorrupt; a plausible input above a limit
// fails with ErrTooLarge. Errors name the type and the byte offset.
// DefaultLimits apply unless WithLimits sets others. Every decoder has a
// fuzz target (go test -fuzz=FuzzDecodeString ./internal/codec, and so on).
//
// # Dependencies
//
// The fallback uses github.com/fxamacker/cbor/v2: a well-kept, fuzzed
// implementation of an IETF standard (RFC 8949) whose decoder has the
// limits we need (MaxArrayElements, MaxMapPairs, MaxNestedLevels) and whose
// core deterministic encoding is defined by the RFC, so it stays stable.
// encoding/gob is not used: it is not meant for untrusted input.
//
// Hashes of strings and encoded keys use github.com/cespare/xxhash/v2: fast,
// widely used (Prometheus, etcd) and a fixed algorithm (XXH64), so its values
// are the same on every platform and never change. Seeded hashes
// (hash/maphash, map iteration) differ between processes and so cannot
// place keys in partitions.
package codec
