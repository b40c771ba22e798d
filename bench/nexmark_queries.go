package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bench/nexmark"
)

// Nexmark's stateless queries q0, q1 and q2, the incremental join q3 and
// the processing-time window q12, as nexmark-flink's SQL defines them,
// adapted to batches, and their baselines. Each query reads the events
// whole, as Flink's do (the generator is part of both sides' cost), and
// selects and projects them onto small records with Filter and Map,
// which stream a partition's events through without materialising it
// (MapPartitions would collect the generated events into a slice first).

// nxEvents is the job's Nexmark event stream: seed's events at rate
// events/s.
func nxEvents(c *sluice.Context, seed uint64, rate int) *sluice.Stream[nexmark.Event] {
	return sluice.Generate(c, nexmark.Generator(nexmark.Config{Seed: seed, Rate: rate}), rate)
}

// nxBids keeps the bids of events.
func nxBids(events *sluice.Stream[nexmark.Event]) *sluice.Stream[nexmark.Event] {
	return sluice.Filter(events, func(e nexmark.Event) bool { return e.Bid != nil })
}

// nxInput reads the same events as nxEvents, batch by batch, for a
// baseline.
type nxInput struct {
	in  Input
	gen *nexmark.Gen
}

func newNxInput(in Input) nxInput {
	g, err := nexmark.New(nexmark.Config{Seed: in.Seed, Rate: in.Rate})
	if err != nil {
		panic(err) // a rate the job would refuse as well
	}
	return nxInput{in: in, gen: g}
}

// batch returns batch k's events and its time.
func (x nxInput) batch(k int64) ([]nexmark.Event, time.Time) {
	from, to, start, end := x.in.Range(k)
	return x.gen.Records(from, to, start, end), end
}

// q0: pass-through. Every event is a result.

func buildNexmarkQ0(c *sluice.Context, seed uint64, rate int, out *Output) {
	Emit(nxEvents(c, seed, rate), out, nxFormatEvent)
}

func nexmarkQ0Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		if out != nil {
			lines := make([]string, len(evs))
			for i, e := range evs {
				lines[i] = nxFormatEvent(e)
			}
			out.Add(t, lines...)
		}
	}
}

// nxFormatEvent formats every field of an event (tests only).
func nxFormatEvent(e nexmark.Event) string {
	switch e.Kind {
	case nexmark.KindPerson:
		return fmt.Sprintf("person %+v", *e.Person)
	case nexmark.KindAuction:
		return fmt.Sprintf("auction %+v", *e.Auction)
	case nexmark.KindBid:
		return fmt.Sprintf("bid %+v", *e.Bid)
	}
	return "unknown event"
}

// q1: currency conversion. Every bid, its price in euros.

// nxEuroBid is q1's result: a bid with its price converted.
type nxEuroBid struct {
	Auction, Bidder int64
	Price           int64 // euro cents, rounded down
	DateTime        int64 // Unix nanoseconds
}

// nxEuros converts dollar cents to euro cents at Nexmark's rate, 0.908
// (Flink multiplies a DOUBLE; whole cents, rounded down, do here).
func nxEuros(cents int64) int64 { return cents * 908 / 1000 }

func nxEuroBidOf(b *nexmark.Bid) nxEuroBid {
	return nxEuroBid{Auction: b.Auction, Bidder: b.Bidder, Price: nxEuros(b.Price), DateTime: b.DateTime}
}

func formatEuroBid(b nxEuroBid) string {
	return strconv.FormatInt(b.Auction, 10) + " " + strconv.FormatInt(b.Bidder, 10) + " " +
		strconv.FormatInt(b.Price, 10) + " " + strconv.FormatInt(b.DateTime, 10)
}

func buildNexmarkQ1(c *sluice.Context, seed uint64, rate int, out *Output) {
	bids := sluice.Map(nxBids(nxEvents(c, seed, rate)), func(e nexmark.Event) nxEuroBid { return nxEuroBidOf(e.Bid) })
	Emit(bids, out, formatEuroBid)
}

func nexmarkQ1Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	var buf []nxEuroBid // the batch's results, reused
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		buf = buf[:0]
		for _, e := range evs {
			if e.Bid != nil {
				buf = append(buf, nxEuroBidOf(e.Bid))
			}
		}
		if out != nil {
			lines := make([]string, len(buf))
			for i, b := range buf {
				lines[i] = formatEuroBid(b)
			}
			out.Add(t, lines...)
		}
	}
}

// q2: selection. The bids on auctions whose id is a multiple of 123.

// nxAuctionPrice is q2's result.
type nxAuctionPrice struct{ Auction, Price int64 }

// nxQ2Keep says whether e is a bid q2 selects.
func nxQ2Keep(e nexmark.Event) bool { return e.Bid != nil && e.Bid.Auction%123 == 0 }

func formatAuctionPrice(r nxAuctionPrice) string {
	return strconv.FormatInt(r.Auction, 10) + " " + strconv.FormatInt(r.Price, 10)
}

func buildNexmarkQ2(c *sluice.Context, seed uint64, rate int, out *Output) {
	sel := sluice.Map(sluice.Filter(nxEvents(c, seed, rate), nxQ2Keep), func(e nexmark.Event) nxAuctionPrice {
		return nxAuctionPrice{Auction: e.Bid.Auction, Price: e.Bid.Price}
	})
	Emit(sel, out, formatAuctionPrice)
}

func nexmarkQ2Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	var buf []nxAuctionPrice
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		buf = buf[:0]
		for _, e := range evs {
			if nxQ2Keep(e) {
				buf = append(buf, nxAuctionPrice{Auction: e.Bid.Auction, Price: e.Bid.Price})
			}
		}
		if out != nil {
			lines := make([]string, len(buf))
			for i, r := range buf {
				lines[i] = formatAuctionPrice(r)
			}
			out.Add(t, lines...)
		}
	}
}

// q3: local item suggestion. The people of Oregon, Idaho and California
// joined with the auctions of category 10 they sell, each match written
// in the batch in which its second side arrives: Flink's regular join,
// which keeps both sides for ever. Keyed by person id, the state holds
// the person once it arrived and the auctions that came first. A person
// arrives once, so a batch's matches do not depend on the order of its
// records.

// nxQ3Side is one side of the q3 join, keyed by the person's id: a
// person (Auction 0; auction ids start at nexmark.FirstAuctionID) or an
// auction the person sells.
type nxQ3Side struct {
	Name, City, State string
	Auction           int64
}

// nxQ3State is a person's q3 state.
type nxQ3State struct {
	Name, City, State string
	// Arrived says whether the person has arrived (the fields above are
	// theirs).
	Arrived bool
	// Pending holds the auctions that arrived before the person; never
	// appended to in place, since a state value may be shared with the
	// state of an earlier batch.
	Pending []int64
}

// nxQ3Result is a q3 match.
type nxQ3Result struct {
	Name, City, State string
	Auction           int64
}

// nxQ3Keep says whether e is a side of the q3 join.
func nxQ3Keep(e nexmark.Event) bool {
	switch {
	case e.Person != nil:
		s := e.Person.State
		return s == "OR" || s == "ID" || s == "CA"
	case e.Auction != nil:
		return e.Auction.Category == 10
	}
	return false
}

// nxQ3SideOf returns the side e is, keyed by person id (e is one that
// nxQ3Keep keeps).
func nxQ3SideOf(e nexmark.Event) sluice.KV[int64, nxQ3Side] {
	if p := e.Person; p != nil {
		// The name shares its allocation with the person's other strings:
		// cloned, the state keeps only the name.
		return sluice.Pair(p.ID, nxQ3Side{Name: strings.Clone(p.Name), City: p.City, State: p.State})
	}
	return sluice.Pair(e.Auction.Seller, nxQ3Side{Auction: e.Auction.ID})
}

// nxQ3Apply applies one side to a person's state and appends the matches
// it makes to out.
func nxQ3Apply(s nxQ3State, v nxQ3Side, out []nxQ3Result) (nxQ3State, []nxQ3Result) {
	if v.Auction != 0 {
		if s.Arrived {
			return s, append(out, nxQ3Result{Name: s.Name, City: s.City, State: s.State, Auction: v.Auction})
		}
		s.Pending = append(slices.Clip(s.Pending), v.Auction)
		return s, out
	}
	s.Name, s.City, s.State, s.Arrived = v.Name, v.City, v.State, true
	for _, a := range s.Pending {
		out = append(out, nxQ3Result{Name: s.Name, City: s.City, State: s.State, Auction: a})
	}
	s.Pending = nil
	return s, out
}

func formatQ3(r nxQ3Result) string {
	return r.Name + "," + r.City + "," + r.State + "," + strconv.FormatInt(r.Auction, 10)
}

func buildNexmarkQ3(c *sluice.Context, seed uint64, rate int, out *Output) {
	sides := sluice.Map(sluice.Filter(nxEvents(c, seed, rate), nxQ3Keep), nxQ3SideOf)
	Emit(nxQ3Join(sides), out, formatQ3)
}

// nxQ3Join joins the q3 sides by person id, incrementally.
func nxQ3Join(sides *sluice.Stream[sluice.KV[int64, nxQ3Side]]) *sluice.Stream[nxQ3Result] {
	matches, _ := sluice.MapWithState(sides, func(_ time.Time, _ int64, v sluice.Optional[nxQ3Side], st *sluice.State[nxQ3State]) ([]nxQ3Result, bool) {
		s, _ := st.Get()
		s, res := nxQ3Apply(s, v.Value, nil)
		st.Update(s)
		return res, len(res) > 0
	}, sluice.Named("nexmark-q3"))
	return sluice.FlatMap(matches, func(r []nxQ3Result) []nxQ3Result { return r })
}

func nexmarkQ3Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	state := make(map[int64]nxQ3State, 1<<16)
	var res []nxQ3Result
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		res = res[:0]
		for _, e := range evs {
			if !nxQ3Keep(e) {
				continue
			}
			kv := nxQ3SideOf(e)
			s := state[kv.Key]
			s, res = nxQ3Apply(s, kv.Value, res)
			state[kv.Key] = s
		}
		if out != nil {
			lines := make([]string, len(res))
			for i, r := range res {
				lines[i] = formatQ3(r)
			}
			out.Add(t, lines...)
		}
	}
}

// q12: processing-time window. The number of bids of each bidder in
// tumbling windows of 10 s of processing time: with D-Streams, of batch
// time, so windows of whole batches, written every 10 s.

// nxQ12Window is q12's window length and slide: 10 s rounded up to a
// multiple of batch.
func nxQ12Window(batch time.Duration) time.Duration {
	const w = 10 * time.Second
	return (w + batch - 1) / batch * batch
}

func formatBidderCount(kv sluice.KV[int64, int64]) string {
	return strconv.FormatInt(kv.Key, 10) + " " + strconv.FormatInt(kv.Value, 10)
}

func buildNexmarkQ12(c *sluice.Context, seed uint64, rate int, out *Output) {
	pairs := sluice.Map(nxBids(nxEvents(c, seed, rate)), func(e nexmark.Event) sluice.KV[int64, int64] {
		return sluice.Pair(e.Bid.Bidder, int64(1))
	})
	w := nxQ12Window(c.BatchInterval())
	counts := sluice.ReduceByKeyAndWindow(pairs, func(a, b int64) int64 { return a + b }, nil, w, w)
	Emit(counts, out, formatBidderCount)
}

func nexmarkQ12Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	per := int64(nxQ12Window(in.Batch) / in.Batch) // batches per window
	counts := make(map[int64]int64, 4096)
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		for _, e := range evs {
			if b := e.Bid; b != nil {
				counts[b.Bidder]++
			}
		}
		if (k+1)%per != 0 {
			return
		}
		if out != nil {
			lines := make([]string, 0, len(counts))
			for bidder, n := range counts {
				lines = append(lines, formatBidderCount(sluice.Pair(bidder, n)))
			}
			out.Add(t, lines...)
		}
		clear(counts)
	}
}
