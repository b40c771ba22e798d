package blockstore

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/lineage"
)

const (
	// sampleRecords is how many records EstimateBytes encodes.
	sampleRecords = 32
	// blockOverhead is the fixed cost EstimateBytes adds per block: the
	// store's entry, the slice header and the spill file's header, rounded up.
	blockOverhead = 256
)

// EstimateBytes estimates the size of partition v of type typ: the encoded
// size of its first 32 records (typ.Head), extrapolated to all typ.Len(v)
// records, plus a fixed per-block overhead. It estimates the encoded size
// and is used as a proxy for the memory a block takes (Go values are
// usually somewhat larger: slice and string headers, padding). It is
// deterministic and costs one encoding of at most 32 records.
func EstimateBytes(typ lineage.Type, v any) int64 {
	n := typ.Len(v)
	if n == 0 {
		return blockOverhead
	}
	k := min(n, sampleRecords)
	sample := v
	if k < n {
		sample = typ.Head(v, k)
	}
	b, err := safeEncode(nil, typ, sample)
	if err != nil { // a type that cannot leave the process: a rough guess
		return blockOverhead + int64(n)*unknownRecordBytes
	}
	return blockOverhead + int64(len(b))*int64(n)/int64(k)
}

// unknownRecordBytes is the size guessed for a record that cannot be
// encoded.
const unknownRecordBytes = 64

// safeEncode encodes v, turning the panic of a codec that refuses the type
// (unexported fields: it cannot leave the process) into an error.
func safeEncode(dst []byte, typ lineage.Type, v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("blockstore: cannot encode a %s block: %v", typ.Name(), r)
		}
	}()
	return typ.Encode(dst, v), nil
}
