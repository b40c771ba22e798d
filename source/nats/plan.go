package nats

import "math/bits"

// Plan is one batch of a Source: the stream sequences [From, To), read by
// Parts partitions that split the range evenly by sequence. It is plain
// data: the engine records it in the metadata checkpoint.
type Plan struct {
	From, To uint64
	Parts    int
}

// Len is the number of sequences the plan spans (deleted, purged and
// filtered-out ones included).
func (p Plan) Len() uint64 {
	if p.To <= p.From {
		return 0
	}
	return p.To - p.From
}

// Range returns the sequences [lo, hi) partition part reads.
func (p Plan) Range(part int) (lo, hi uint64) {
	n := p.Len()
	if p.Parts <= 0 || part < 0 || part >= p.Parts {
		return p.From, p.From
	}
	return p.From + splitAt(n, part, p.Parts), p.From + splitAt(n, part+1, p.Parts)
}

// splitAt is i × n / parts, without overflow.
func splitAt(n uint64, i, parts int) uint64 {
	hi, lo := bits.Mul64(n, uint64(i))
	q, _ := bits.Div64(hi, lo, uint64(parts)) // hi < parts since i <= parts
	return q
}

// bound is the end of a batch starting at from that may go up to end:
// cut to limit sequences (limit < 0: none) and to maxBatch (0: none).
func bound(from, end uint64, limit int64, maxBatch uint64) uint64 {
	if end <= from {
		return from
	}
	n := end - from
	if limit >= 0 && n > uint64(limit) {
		n = uint64(limit)
	}
	if maxBatch > 0 && n > maxBatch {
		n = maxBatch
	}
	return from + n
}

// partsFor is the number of partitions for n sequences.
func (c *config) partsFor(n uint64) int {
	if n == 0 {
		return 0
	}
	if c.parts > 0 {
		return int(min(uint64(c.parts), n))
	}
	k := (n-1)/c.perPart + 1
	return int(min(k, uint64(c.maxParts)))
}
