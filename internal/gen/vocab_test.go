package gen

import (
	"slices"
	"testing"
)

func TestVocabWords(t *testing.T) {
	v := DefaultVocab()
	if v.Len() != DefaultVocabSize || v.Zipf().Len() != DefaultVocabSize {
		t.Fatalf("Len = %d, Zipf().Len = %d, want %d", v.Len(), v.Zipf().Len(), DefaultVocabSize)
	}
	seen := make(map[string]bool)
	for k := range v.Len() {
		w := v.Word(k)
		if len(w) < MinWordLen || len(w) > MaxWordLen || !isLower(w) {
			t.Fatalf("word %d = %q: want %d-%d lowercase letters", k, w, MinWordLen, MaxWordLen)
		}
		if seen[w] {
			t.Fatalf("word %d = %q is a duplicate", k, w)
		}
		seen[w] = true
	}
}

func TestVocabDeterministic(t *testing.T) {
	if DefaultVocab() != DefaultVocab() {
		t.Error("DefaultVocab not built once")
	}
	a, b, c := NewVocab(7, 500), NewVocab(7, 500), NewVocab(8, 500)
	if !slices.Equal(a.words, b.words) {
		t.Error("same seed, different words")
	}
	if slices.Equal(a.words, c.words) {
		t.Error("different seeds, same words")
	}
	if got := NewVocab(7, 100).words; !slices.Equal(got, a.words[:100]) {
		t.Error("a smaller vocabulary is not a prefix of a larger one")
	}
	mustPanic(t, func() { NewVocab(1, 0) })
	mustPanic(t, func() { NewVocab(1, MaxVocab+1) })
}

// TestVocabGolden pins the benchmark vocabulary.
func TestVocabGolden(t *testing.T) {
	want := []string{"uyyntalqj", "wrwlcrrpa", "axm", "ysrq", "pgip"}
	if got := DefaultVocab().words[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("first words = %q, want %q", got, want)
	}
}

func isLower(w string) bool {
	for i := range len(w) {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}
