package gen

import "testing"

func BenchmarkTextRecord(b *testing.B) {
	g := Text{Seed: 1}
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		_ = g.Record(i)
	}
}

func BenchmarkTextAppendRecord(b *testing.B) {
	g := Text{Seed: 1}
	buf := make([]byte, 0, RecordSize)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		buf = g.AppendRecord(buf[:0], i)
	}
}

func BenchmarkTextAppendRange(b *testing.B) {
	g := Text{Seed: 1}
	dst := make([]string, 0, 1000)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i += 1000 {
		dst = g.AppendRange(dst[:0], i, i+1000)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
}

func BenchmarkAdEvent(b *testing.B) {
	a := DefaultAds(1)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		_ = a.Event(i, i)
	}
}

func BenchmarkZipfRank(b *testing.B) {
	z := DefaultVocab().Zipf()
	r := newRNG(1, 0, 0)
	for b.Loop() {
		_ = z.Rank(r.next())
	}
}

func BenchmarkNewVocab(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewVocab(DefaultVocabSeed, DefaultVocabSize)
	}
}
