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
// deterministic and costs one encoding of at most 32 records, or, for a
// partition of one record holding a whole state (a type with an
// EstimateBytes(part, sample) method that accepts it), what that method
// costs: an encoding of a sample of the state's values.
func EstimateBytes(typ lineage.Type, v any) int64 {
	n, _ := estimate(typ, v)
	return n
}

// estimate is EstimateBytes, with the error of a type that cannot be
// encoded (it is then a rough guess).
func estimate(typ lineage.Type, v any) (int64, error) {
	n := typ.Len(v)
	if n == 0 {
		// Encoding nothing still asks the codec for the type: one it
		// refuses cannot be spilled, even empty.
		_, err := safeEncode(nil, typ, v)
		return blockOverhead, err
	}
	// A partition of one record holding a whole state is estimated by
	// the record from a sample of its values: encoding it all, at every
	// batch, would cost as much as a checkpoint.
	if es, ok := typ.(interface {
		EstimateBytes(part any, sample int) (int64, bool)
	}); ok {
		if b, ok, err := safeEstimate(es.EstimateBytes, v); err != nil {
			return blockOverhead + int64(n)*unknownRecordBytes, err
		} else if ok {
			return blockOverhead + b, nil
		}
	}
	k := min(n, sampleRecords)
	sample := v
	if k < n {
		sample = typ.Head(v, k)
	}
	b, err := safeEncode(nil, typ, sample)
	if err != nil { // a type that cannot leave the process: a rough guess
		return blockOverhead + int64(n)*unknownRecordBytes, err
	}
	return blockOverhead + int64(len(b))*int64(n)/int64(k), nil
}

// safeEstimate calls a record type's estimate, turning a codec's panic
// into an error as safeEncode does.
func safeEstimate(f func(any, int) (int64, bool), v any) (b int64, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("blockstore: cannot encode a block: %v", r)
		}
	}()
	b, ok = f(v, sampleRecords)
	return b, ok, nil
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

// EstimateRecordBytes estimates the encoded size of one record of
// partition v of type typ, from a sample as EstimateBytes does (0 for an
// empty partition).
func EstimateRecordBytes(typ lineage.Type, v any) float64 {
	n := typ.Len(v)
	if n == 0 {
		return 0
	}
	b, _ := estimate(typ, v)
	return float64(b-blockOverhead) / float64(n)
}
