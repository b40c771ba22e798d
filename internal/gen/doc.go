// Package gen holds Sluice's deterministic, seeded, random-access record
// generators: the text records of the grep, wordcount and topk benchmarks
// (DESIGN.md §11) and the ad events of the demo job and the Yahoo streaming
// benchmark.
//
// Record i of a generator with seed s is a pure function of (s, i): each
// record draws its numbers from its own counter-based splitmix64 stream,
// started from a hash of (s, i), and there is no shared RNG state. So any
// index range can be regenerated independently, on any machine and in any
// order, with the same result; this is what makes the generator source
// replayable after a failure. Nothing depends on map order, math/rand, the
// clock or platform floating-point differences (the one floating-point table,
// the Zipf CDF, is computed with correctly rounded operations only).
//
// Generators are plain values and safe for concurrent use:
//
//	g := gen.Text{Seed: 1}              // nil Vocab: gen.DefaultVocab()
//	recs := g.AppendRange(nil, 0, 1000) // 1000 records of 100 bytes
//	n := 0
//	for _, r := range recs {
//		if strings.Contains(r, gen.GrepPattern) { // about 0.1% of records
//			n++
//		}
//	}
//
//	ads := gen.DefaultAds(1)
//	evs := ads.AppendRange(nil, 0, 1000, t0, t1) // times spread over [t0, t1)
//	table := ads.CampaignTable()                 // to join events against
//	bots := ads.Bots()                           // what a fraud detector should find
//
// Indices are int64; a single AppendRange call is limited to MaxRange
// records. The package starts no goroutines.
package gen
