package gen

import (
	"fmt"
	"sync"
)

const (
	// ZipfS is the Zipf exponent of word frequencies (DESIGN.md §11).
	ZipfS = 1.1
	// MinWordLen and MaxWordLen bound the length of vocabulary words.
	MinWordLen, MaxWordLen = 3, 10
	// MaxVocab is the largest vocabulary NewVocab accepts.
	MaxVocab = 1 << 20
	// DefaultVocabSeed and DefaultVocabSize define DefaultVocab, the
	// vocabulary of the benchmark workloads. Changing either changes every
	// benchmark input.
	DefaultVocabSeed uint64 = 0x5eed_11ce_d0c5_0001
	DefaultVocabSize        = 10_000
)

// Vocab is a list of distinct lowercase words ranked by frequency, with a
// Zipf(ZipfS) sampler over the ranks. It is immutable and safe for
// concurrent use.
type Vocab struct {
	words []string // words[k] is the word of rank k (0 = most frequent)
	zipf  *Zipf
}

// NewVocab returns n distinct words of MinWordLen..MaxWordLen lowercase
// letters (length and letters uniform), a pure function of seed. It panics
// if n is not in [1, MaxVocab].
func NewVocab(seed uint64, n int) *Vocab {
	if n < 1 || n > MaxVocab {
		panic(fmt.Sprintf("gen: NewVocab(%d): n must be in [1, %d]", n, MaxVocab))
	}
	words := make([]string, 0, n)
	seen := make(map[string]bool, n) // lookups only; never iterated
	for i := int64(0); len(words) < n; i++ {
		w := randomWord(seed, i)
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return &Vocab{words: words, zipf: NewZipf(n, ZipfS)}
}

// randomWord returns candidate word i of a vocabulary: duplicates are
// skipped by the caller, so the vocabulary depends only on (seed, n).
func randomWord(seed uint64, i int64) string {
	r := newRNG(seed, domainVocab, i)
	var buf [MaxWordLen]byte
	n := MinWordLen + pick(r.next(), MaxWordLen-MinWordLen+1)
	for j := range n {
		buf[j] = 'a' + byte(pick(r.next(), 26))
	}
	return string(buf[:n])
}

var defaultVocab = sync.OnceValue(func() *Vocab {
	return NewVocab(DefaultVocabSeed, DefaultVocabSize)
})

// DefaultVocab returns the benchmark vocabulary: DefaultVocabSize words
// from DefaultVocabSeed, built once.
func DefaultVocab() *Vocab { return defaultVocab() }

// Len returns the number of words.
func (v *Vocab) Len() int { return len(v.words) }

// Word returns the word of rank k, 0 being the most frequent. It panics if
// k is out of range.
func (v *Vocab) Word(k int) string { return v.words[k] }

// Zipf returns the sampler over the vocabulary's ranks.
func (v *Vocab) Zipf() *Zipf { return v.zipf }

// Sample maps a uniform 64-bit number to a word, Zipf-distributed by rank.
func (v *Vocab) Sample(u uint64) string { return v.words[v.zipf.Rank(u)] }
