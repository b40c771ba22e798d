package bench

import (
	"context"
	"fmt"
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
		// Making the events is the work: the benchmark's sink counts them.
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
// the person once they arrived, or the auctions that came first. A person
// arrives once, so a batch's matches do not depend on the order of its
// records.

// nxQ3Side is one side of the q3 join, keyed by the person's id: a
// person (Auction 0; auction ids start at nexmark.FirstAuctionID) or an
// auction the person sells.
type nxQ3Side struct {
	Name, City, State string
	Auction           int64
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
		// The name shares its allocation with other strings: cloned, the
		// state keeps only the name.
		return sluice.Pair(p.ID, nxQ3Side{Name: strings.Clone(p.Name), City: p.City, State: p.State})
	}
	return sluice.Pair(e.Auction.Seller, nxQ3Side{Auction: e.Auction.ID})
}

// nxQ3State is a person's q3 state in the Sluice job: "" (none yet),
// 'P' then the person's name, city and state separated by NULs, or 'A'
// then the ids of the auctions that came first, 8 bytes each, little
// endian. A string rather than a struct: it was chosen when the block
// store encoded a MapWithState partition's whole state at every batch (it
// now samples it), and a string still encodes and copies as it is where a
// struct goes through CBOR field by field (at checkpoints and, on a
// cluster, when state moves).
type nxQ3State string

func nxQ3PersonState(v nxQ3Side) nxQ3State {
	return nxQ3State("P" + v.Name + "\x00" + v.City + "\x00" + v.State)
}

// person returns the person of a 'P' state.
func (s nxQ3State) person() (name, city, state string, ok bool) {
	if len(s) == 0 || s[0] != 'P' {
		return "", "", "", false
	}
	name, rest, _ := strings.Cut(string(s[1:]), "\x00")
	city, state, _ = strings.Cut(rest, "\x00")
	return name, city, state, true
}

// waiting returns the number of auctions of an 'A' state (0 for others)
// and auction i of them.
func (s nxQ3State) waiting() (n int, auction func(i int) int64) {
	if len(s) == 0 || s[0] != 'A' {
		return 0, nil
	}
	return (len(s) - 1) / 8, func(i int) int64 {
		var v uint64
		for k := range 8 {
			v |= uint64(s[1+8*i+k]) << (8 * k)
		}
		return int64(v)
	}
}

// withWaiting returns an 'A' (or empty) state with one more auction.
func (s nxQ3State) withWaiting(auction int64) nxQ3State {
	if len(s) == 0 {
		s = "A"
	}
	var b [8]byte
	for k := range b {
		b[k] = byte(uint64(auction) >> (8 * k))
	}
	return s + nxQ3State(b[:])
}

// nxQ3Apply applies one side to a person's state and appends the matches
// it makes to out.
func nxQ3Apply(s nxQ3State, v nxQ3Side, out []nxQ3Result) (nxQ3State, []nxQ3Result) {
	if v.Auction != 0 {
		if name, city, state, ok := s.person(); ok {
			return s, append(out, nxQ3Result{Name: name, City: city, State: state, Auction: v.Auction})
		}
		return s.withWaiting(v.Auction), out
	}
	n, auction := s.waiting()
	for i := range n {
		out = append(out, nxQ3Result{Name: v.Name, City: v.City, State: v.State, Auction: auction(i)})
	}
	return nxQ3PersonState(v), out
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

// nxQ3Seller is a person's state in q3's baseline: the person, once
// they arrived, or the auctions that came first.
type nxQ3Seller struct {
	person  nxQ3Side
	arrived bool
	waiting []int64
}

func nexmarkQ3Baseline(in Input) func(int64, *Output) {
	x := newNxInput(in)
	sellers := make(map[int64]*nxQ3Seller, 1<<16)
	var res []nxQ3Result
	return func(k int64, out *Output) {
		evs, t := x.batch(k)
		res = res[:0]
		for _, e := range evs {
			if !nxQ3Keep(e) {
				continue
			}
			kv := nxQ3SideOf(e)
			s := sellers[kv.Key]
			if s == nil {
				s = new(nxQ3Seller)
				sellers[kv.Key] = s
			}
			switch v := kv.Value; {
			case v.Auction == 0:
				s.person, s.arrived = v, true
				for _, a := range s.waiting {
					res = append(res, nxQ3Result{Name: v.Name, City: v.City, State: v.State, Auction: a})
				}
				s.waiting = nil
			case s.arrived:
				res = append(res, nxQ3Result{Name: s.person.Name, City: s.person.City, State: s.person.State, Auction: v.Auction})
			default:
				s.waiting = append(s.waiting, v.Auction)
			}
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
	add := func(a, b int64) int64 { return a + b }
	// ReduceByKeyAndWindow(pairs, add, nil, w, w) reduces each batch
	// only when the window that holds it is computed, so every 10 s one
	// batch would do the work of all ten. Reduced and computed in its own
	// batch, each batch's counts wait in the block store, and the window
	// reduces only them.
	perBatch := sluice.ReduceByKey(pairs, add)
	sluice.ForeachBatch(perBatch, func(ctx context.Context, d sluice.Dataset[sluice.KV[int64, int64]], _ time.Time) error {
		_, err := d.Count(ctx)
		return err
	})
	w := nxQ12Window(c.BatchInterval())
	Emit(sluice.ReduceByKey(sluice.Window(perBatch, w, w), add), out, formatBidderCount)
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
