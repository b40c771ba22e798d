package gen

import (
	"fmt"
	"slices"
)

const (
	// RecordSize is the length in bytes of every text record.
	RecordSize = 100
	// MaxRange is the longest index range one AppendRange call accepts.
	MaxRange = 1 << 26
)

// GrepPattern is the fixed pattern of the grep benchmark. It occurs in five
// words of DefaultVocab (ranks 2557, 3449, 4276, 6404 and 8850), and
// measured over 1,000,000 records 0.0999% of records contain it with seed 1
// (0.096%-0.101% with other seeds; TestGrepRate).
const GrepPattern = "reb"

// Text generates the benchmark's text records (DESIGN.md §11). Record i is a
// pure function of (Seed, Vocab, i). The zero Vocab means DefaultVocab.
//
// A record is words drawn independently from the vocabulary's Zipf
// distribution, separated by single spaces. Words are added while the next
// one still fits; the first that does not is dropped and the record is
// padded to RecordSize bytes with trailing spaces, so no word is ever cut.
// strings.Fields recovers the words.
type Text struct {
	Seed  uint64
	Vocab *Vocab
}

func (g Text) vocab() *Vocab {
	if g.Vocab == nil {
		return DefaultVocab()
	}
	return g.Vocab
}

// Record returns record i. It makes one allocation, for the string.
func (g Text) Record(i int64) string {
	var buf [RecordSize]byte
	return string(g.AppendRecord(buf[:0], i))
}

// AppendRecord appends record i (exactly RecordSize bytes) to dst. It does
// not allocate when dst has room, for consumers that want bytes.
func (g Text) AppendRecord(dst []byte, i int64) []byte {
	v := g.vocab()
	r := newRNG(g.Seed, domainText, i)
	end := len(dst) + RecordSize
	dst = append(dst, v.Sample(r.next())...)
	for {
		w := v.Sample(r.next())
		if len(dst)+1+len(w) > end {
			break
		}
		dst = append(dst, ' ')
		dst = append(dst, w...)
	}
	for len(dst) < end {
		dst = append(dst, ' ')
	}
	return dst
}

// AppendRange appends records from..to-1 to dst. Any split of a range into
// sub-ranges, generated in any order or on any machine, gives the same
// records. It panics if to < from or to-from > MaxRange.
func (g Text) AppendRange(dst []string, from, to int64) []string {
	n := checkRange(from, to)
	dst = slices.Grow(dst, n)
	for i := from; i < to; i++ {
		dst = append(dst, g.Record(i))
	}
	return dst
}

// checkRange validates an index range and returns its length.
func checkRange(from, to int64) int {
	if to < from || uint64(to)-uint64(from) > MaxRange {
		panic(fmt.Sprintf("gen: bad range [%d, %d): need from <= to and to-from <= %d",
			from, to, MaxRange))
	}
	return int(to - from)
}
