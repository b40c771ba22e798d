// Package nexmark generates the Nexmark benchmark's events (people,
// auctions and bids of an online auction site) for Sluice, following the
// generator of Apache Beam's and Flink's Nexmark suites: the same event
// mix, id spaces, hot auctions, bidders and sellers, field sets and sizes.
//
// Event i is a pure function of the configuration's seed and i (its time
// is supplied by the caller), so any range of events can be made again,
// anywhere, with the same result, which is what sluice.Generate needs:
//
//	cfg := nexmark.Config{Seed: 1, Rate: 100_000}
//	events := sluice.Generate(c, nexmark.Generator(cfg), cfg.Rate)
//	bids := sluice.FlatMap(events, func(e nexmark.Event) []nexmark.Bid {
//		if e.Kind != nexmark.KindBid {
//			return nil
//		}
//		return []nexmark.Bid{*e.Bid}
//	})
//
// An event's time is its arrival time in the stream (sluice.Generator's
// [start, end) interpolation); at a constant rate r that is the first
// event's time plus i/r, Nexmark's timestampForEvent. Times are Unix
// nanoseconds in int64 fields (see Event.Time), which encode cheaply.
//
// There are no goroutines here; a generator is immutable and safe for
// concurrent use.
package nexmark
