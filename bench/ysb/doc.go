// Package ysb generates the input of the Yahoo streaming benchmark (YSB)
// for Sluice, in-process: JSON ad events as the benchmark's data generator
// writes them, and the static table of campaigns the job joins them with.
//
// An event is one line of JSON:
//
//	{"user_id": "…", "page_id": "…", "ad_id": "…", "ad_type": "banner",
//	 "event_type": "view", "event_time": "1700000000123", "ip_address": "1.2.3.4"}
//
// (on one line), with the original's fields, spacing and value sets: user
// and page ids drawn from 100 UUIDs each, ad ids from 1000 UUIDs (100
// campaigns of 10 ads), ad and event types uniformly, the event time in
// Unix milliseconds as a string, and the fixed address 1.2.3.4. The ids are
// UUIDs derived from the seed.
//
// Event i is a pure function of the seed and i (its time is supplied by
// the caller), so any range of events can be made again, anywhere, with
// the same result, which is what sluice.Generate needs:
//
//	g := ysb.New(seed)
//	events := sluice.Generate(c, g, rate) // *sluice.Stream[string]
//	campaigns := g.Campaigns()            // ad id → campaign number
//
// Extract pulls what the benchmark's query needs out of one event: its
// type, ad id and time, with github.com/valyala/fastjson (see Extract for
// why that library).
//
// There are no goroutines here; a generator is immutable and safe for
// concurrent use; an Extractor is for one goroutine at a time.
package ysb
