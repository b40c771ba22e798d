package blockstore

import "github.com/sluicehq/sluice/internal/lineage"

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
	enc := int64(len(typ.Encode(nil, sample)))
	return blockOverhead + enc*int64(n)/int64(k)
}
