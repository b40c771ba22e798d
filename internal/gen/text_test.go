package gen

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

func TestRecordShape(t *testing.T) {
	v := DefaultVocab()
	inVocab := make(map[string]bool, v.Len())
	for k := range v.Len() {
		inVocab[v.Word(k)] = true
	}
	g := Text{Seed: 7}
	for i := range int64(100_000) {
		r := g.Record(i)
		if len(r) != RecordSize {
			t.Fatalf("record %d has length %d: %q", i, len(r), r)
		}
		words := strings.Fields(r)
		body := strings.Join(words, " ")
		if pad := len(r) - len(body); r[:len(body)] != body || pad > MaxWordLen {
			t.Fatalf("record %d: want words, single spaces, then <= %d spaces: %q", i, MaxWordLen, r)
		}
		for _, w := range words {
			if !inVocab[w] {
				t.Fatalf("record %d: word %q not in vocabulary", i, w)
			}
		}
	}
}

func TestTextDeterministic(t *testing.T) {
	a, b := Text{Seed: 1}, Text{Seed: 1, Vocab: DefaultVocab()}
	c, d := Text{Seed: 2}, Text{Seed: 1, Vocab: NewVocab(3, 1000)}
	same, sameC, sameD := 0, 0, 0
	for i := range int64(1000) {
		r := a.Record(i)
		if r == b.Record(i) {
			same++
		}
		if r == c.Record(i) {
			sameC++
		}
		if r == d.Record(i) {
			sameD++
		}
	}
	if same != 1000 || sameC > 1 || sameD > 1 {
		t.Errorf("equal records: same generator %d/1000, other seed %d, other vocab %d",
			same, sameC, sameD)
	}
}

// TestTextAppendRangeSplits checks random access: a range cut into pieces
// generated in a shuffled order by separate generator values equals the
// whole range generated at once.
func TestTextAppendRangeSplits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		base := rapid.Int64Range(-1<<40, 1<<40).Draw(t, "base")
		n := rapid.IntRange(0, 300).Draw(t, "n")
		want := Text{Seed: seed}.AppendRange(nil, base, base+int64(n))
		got := make([]string, n)
		for _, p := range shuffledPieces(t, n) {
			recs := Text{Seed: seed}.AppendRange([]string{"x"}, base+int64(p[0]), base+int64(p[1]))
			copy(got[p[0]:p[1]], recs[1:])
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pieces differ from the whole range")
		}
	})
}

// shuffledPieces cuts [0, n) at random points and returns the pieces in a
// random order.
func shuffledPieces(t *rapid.T, n int) [][2]int {
	cuts := rapid.SliceOfN(rapid.IntRange(0, n), 0, 10).Draw(t, "cuts")
	cuts = append(cuts, 0, n)
	slices.Sort(cuts)
	var pieces [][2]int
	for i := 1; i < len(cuts); i++ {
		pieces = append(pieces, [2]int{cuts[i-1], cuts[i]})
	}
	perm := rapid.Permutation(pieces).Draw(t, "order")
	return perm
}

func TestTextAllocs(t *testing.T) {
	g := Text{Seed: 1}
	buf := make([]byte, 0, RecordSize)
	if a := testing.AllocsPerRun(100, func() { buf = g.AppendRecord(buf[:0], 5) }); a != 0 {
		t.Errorf("AppendRecord: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = g.Record(5) }); a != 1 {
		t.Errorf("Record: %v allocs, want 1", a)
	}
	if got := string(g.AppendRecord([]byte("abc"), 5)); got != "abc"+g.Record(5) {
		t.Errorf("AppendRecord does not append")
	}
}

func TestTextBadRange(t *testing.T) {
	g := Text{}
	if got := g.AppendRange(nil, 5, 5); len(got) != 0 {
		t.Errorf("empty range gave %d records", len(got))
	}
	mustPanic(t, func() { g.AppendRange(nil, 5, 4) })
	mustPanic(t, func() { g.AppendRange(nil, 0, MaxRange+1) })
	mustPanic(t, func() { g.AppendRange(nil, math.MinInt64, math.MaxInt64) })
}

// TestTextZipfSkew checks the word frequencies in records. The rank-0 share
// is a little below the sampler's probability (about 2% relative) because a
// record drops the last word drawn, which is more often a long word, and
// the rank-0 word has 9 letters.
func TestTextZipfSkew(t *testing.T) {
	v := DefaultVocab()
	g := Text{Seed: 9}
	first, hundredth, words := 0, 0, 0
	for i := range int64(100_000) {
		for _, w := range strings.Fields(g.Record(i)) {
			words++
			switch w {
			case v.Word(0):
				first++
			case v.Word(99):
				hundredth++
			}
		}
	}
	share, want := float64(first)/float64(words), v.Zipf().Prob(0)
	if math.Abs(share-want)/want > 0.05 {
		t.Errorf("rank-0 share %.4f, want %.4f ± 5%%", share, want)
	}
	if first < 50*hundredth {
		t.Errorf("rank 0 seen %d times, rank 99 %d times: not skewed enough", first, hundredth)
	}
}

// TestGrepRate measures the share of records containing GrepPattern: about
// 0.099% over 1,000,000 records for several seeds (0.0964%-0.1008%).
func TestGrepRate(t *testing.T) {
	n := int64(1_000_000)
	if testing.Short() {
		n = 200_000
	}
	g := Text{Seed: 1}
	buf := make([]byte, 0, RecordSize)
	hits := 0
	for i := range n {
		buf = g.AppendRecord(buf[:0], i)
		if strings.Contains(string(buf), GrepPattern) {
			hits++
		}
	}
	rate := float64(hits) / float64(n)
	t.Logf("%q in %d of %d records: %.4f%%", GrepPattern, hits, n, 100*rate)
	if rate < 0.0005 || rate > 0.002 {
		t.Errorf("grep rate %.4f%%, want 0.05%%-0.2%%", 100*rate)
	}
}

// TestTextGolden pins records so that accidental changes to the generator
// (and so to every benchmark input) fail.
func TestTextGolden(t *testing.T) {
	g := Text{Seed: 42}
	for i, want := range map[int64]string{
		0:             "wrwlcrrpa uyyntalqj wmcxvt uyyntalqj uyyntalqj izjdejzkl uyyntalqj ryeztkf trbpjglqn gyn qklbjbno   ",
		1:             "zcjz uxd msc vysulunh wsrk axm cctjtuhns txbs kspksgxez sihboevtlm ysrq nnl wrwlcrrpa xgewatnpgp    ",
		1_000_000_007: "uyyntalqj vlosm chg mahrgvnqo ettalu bnzwgczxlf klyfdxs pgip fpz oxxrp slni iinzsm vhgs axm ebzuxq  ",
	} {
		if got := g.Record(i); got != want {
			t.Errorf("record %d = %q, want %q", i, got, want)
		}
	}
	h := fnv.New64a()
	for _, r := range g.AppendRange(nil, 0, 10_000) {
		h.Write([]byte(r))
	}
	if got, want := h.Sum64(), uint64(0x2c66f452492c66bd); got != want {
		t.Errorf("hash of records [0, 10000) = %#x, want %#x", got, want)
	}
}

// TestConcurrentGeneration generates disjoint ranges in parallel and checks
// the result against a sequential run; -race checks that generators share
// nothing mutable.
func TestConcurrentGeneration(t *testing.T) {
	g := Text{Seed: 11, Vocab: NewVocab(11, 2000)}
	a := DefaultAds(11)
	const parts, per = 8, 500
	texts := make([][]string, parts)
	events := make([][]AdEvent, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			from, to := int64(p*per), int64((p+1)*per)
			texts[p] = g.AppendRange(nil, from, to)
			events[p] = a.AppendRange(nil, from, to, 0, 0)
		})
	}
	wg.Wait()
	if !slices.Equal(slices.Concat(texts...), g.AppendRange(nil, 0, parts*per)) ||
		!slices.Equal(slices.Concat(events...), a.AppendRange(nil, 0, parts*per, 0, 0)) {
		t.Error("parallel generation differs from sequential")
	}
}
