package bench

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bench/nexmark"
)

// Nexmark's windowed and stateful queries q4, q5, q7 and q8, after the
// Flink suite's SQL (nexmark-flink), and their baselines.
//
// q5, q7 and q8 use event-time windows (ReduceByKeyAndEventWindow): a
// window [s, e) closes in the first batch after which the latest event
// time of the operator's records reaches e. Each query's baseline keeps
// the same watermark over the same kinds of events (bids for q5 and q7,
// people and auctions for q8), so it closes the same windows in the same
// batches. The generator's event times never go back (event i's time is
// its arrival), so no record is ever late and the baselines need not
// drop any.
//
// The jobs pre-aggregate each input partition before the shuffle: a
// partition's records of one key and tumbling window (q5: 2 s pane, the
// slide) become one record, which keeps the latest of their event times,
// so the operator's watermark, and the windows each record falls in, are
// the same as record by record.

const (
	// nxwWindow is the window of q5, q7 and q8; nxwSlide is q5's slide.
	nxwWindow = int64(10 * time.Second)
	nxwSlide  = int64(2 * time.Second)
	// nxwNoEvent is a watermark before any event: it closes nothing.
	nxwNoEvent = math.MinInt64
)

// nxwFloor rounds ts down to a multiple of d (also before the epoch), the
// start of the last window of slide d holding ts.
func nxwFloor(ts, d int64) int64 {
	m := ts % d
	if m < 0 {
		m += d
	}
	return ts - m
}

// nxwTime formats Unix nanoseconds for results.
func nxwTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// nxwEvents is the queries' input: Nexmark events at rate events/s.
func nxwEvents(c *sluice.Context, seed uint64, rate int) *sluice.Stream[nexmark.Event] {
	return sluice.Generate(c, nexmark.Generator(nexmark.Config{Seed: seed, Rate: rate}), rate)
}

// nxwGen is the baselines' generator of the same events.
func nxwGen(in Input) *nexmark.Gen {
	g, err := nexmark.New(nexmark.Config{Seed: in.Seed, Rate: in.Rate})
	if err != nil {
		panic(err)
	}
	return g
}

// nxwEventTime is the event time of pre-aggregated window records, whose
// values carry the latest of their records' event times.
func nxwEventTime[K comparable, V interface{ latest() int64 }](kv sluice.KV[K, V]) time.Time {
	return time.Unix(0, kv.Value.latest())
}

// nxwClosing returns the starts of the windows in open that the watermark
// closes (start+w ≤ latest), in order.
func nxwClosing[V any](open map[int64]V, w, latest int64) []int64 {
	var starts []int64
	for s := range open {
		if s+w <= latest {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	return starts
}

// q5, hot items: in windows of 10 s sliding every 2 s, the auctions with
// the most bids (Flink: HOP(dateTime, 2 s, 10 s), count per auction, and
// those whose count is the window's highest).

// nxwGroup is how many consecutive auction ids one q5 record counts the
// bids of (and q8, person ids: one bit each in a uint64). Nexmark numbers
// auctions and people in order, and bids and sellers are recent ones, so a
// window's keys are dense in ids: keeping them in arrays makes the window
// state (which the engine keeps per key, checkpoints and, on a cluster,
// shuffles) 64 times fewer entries than one per id. The results are the same for any ids,
// only slower when they are sparse.
const nxwGroup = 64

// nxwGroupBids counts the bids on each auction of a group: N[i] is auction
// key·nxwGroup+i's. Latest is the latest bid's time. A count cannot
// overflow below 400 million bids/s on one auction (10 s windows).
type nxwGroupBids struct {
	Latest int64
	N      [nxwGroup]uint32
}

func (b nxwGroupBids) latest() int64 { return b.Latest }

func nxwAddGroups(a, b nxwGroupBids) nxwGroupBids {
	for i, n := range b.N {
		a.N[i] += n
	}
	a.Latest = max(a.Latest, b.Latest)
	return a
}

// nxwHot is the auctions with the most bids in a window, and how many.
type nxwHot struct {
	Count    int64
	Auctions []int64
}

// nxwHotItem is a q5 result: one of the hottest auctions of the window
// starting at Start (Unix nanoseconds).
type nxwHotItem struct{ Start, Auction, Count int64 }

func formatHotItem(h nxwHotItem) string {
	return nxwTime(h.Start) + " " + strconv.FormatInt(h.Auction, 10) + " " + strconv.FormatInt(h.Count, 10)
}

func buildNexmarkQ5(c *sluice.Context, seed uint64, rate int, out *Output) {
	panes := sluice.MapPartitions(nxwEvents(c, seed, rate), nxwCountPanes)
	counts := sluice.ReduceByKeyAndEventWindow(panes, nxwEventTime[int64, nxwGroupBids], nxwAddGroups,
		time.Duration(nxwWindow), time.Duration(nxwSlide), sluice.Named("nexmark-q5-counts"))
	// Each partition's hottest auctions per window, then the window's.
	hot := sluice.ReduceByKey(sluice.MapPartitions(counts, nxwHottest), nxwMergeHot)
	items := sluice.FlatMap(hot, func(kv sluice.KV[int64, nxwHot]) []nxwHotItem {
		out := make([]nxwHotItem, len(kv.Value.Auctions))
		for i, a := range kv.Value.Auctions {
			out[i] = nxwHotItem{Start: kv.Key, Auction: a, Count: kv.Value.Count}
		}
		return out
	})
	Emit(items, out, formatHotItem)
}

// nxwCountPanes counts a partition's bids per auction group and 2 s pane
// (the slide): all the bids of a pane are in the same windows.
func nxwCountPanes(events []nexmark.Event) []sluice.KV[int64, nxwGroupBids] {
	type paneKey struct{ group, pane int64 }
	at := make(map[paneKey]int)
	var out []sluice.KV[int64, nxwGroupBids]
	for _, e := range events {
		if e.Kind != nexmark.KindBid {
			continue
		}
		b := e.Bid
		k := paneKey{b.Auction / nxwGroup, nxwFloor(b.DateTime, nxwSlide)}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, sluice.Pair(k.group, nxwGroupBids{Latest: b.DateTime}))
		}
		v := &out[i].Value
		v.N[b.Auction%nxwGroup]++
		v.Latest = max(v.Latest, b.DateTime)
	}
	return out
}

// nxwHottest returns, for each window of a partition of closed windows'
// counts, its auctions with the most bids.
func nxwHottest(p []sluice.KV[sluice.EventWindow[int64], nxwGroupBids]) []sluice.KV[int64, nxwHot] {
	at := make(map[int64]int)
	var out []sluice.KV[int64, nxwHot]
	for _, kv := range p {
		s := kv.Key.Start.UnixNano()
		i, ok := at[s]
		if !ok {
			i = len(out)
			at[s] = i
			out = append(out, sluice.Pair(s, nxwHot{}))
		}
		h := &out[i].Value
		for j, n := range kv.Value.N {
			a := kv.Key.Key*nxwGroup + int64(j)
			switch c := int64(n); {
			case c == 0: // no bid: not in the window
			case c > h.Count:
				h.Count, h.Auctions = c, append(h.Auctions[:0], a)
			case c == h.Count:
				h.Auctions = append(h.Auctions, a)
			}
		}
	}
	return out
}

func nxwMergeHot(a, b nxwHot) nxwHot {
	switch {
	case a.Count > b.Count:
		return a
	case b.Count > a.Count:
		return b
	}
	return nxwHot{Count: a.Count, Auctions: append(slices.Clip(a.Auctions), b.Auctions...)}
}

// nxwQ5Baseline counts bids per auction and 2 s pane, and sums a window's
// five panes when it closes.
type nxwQ5Baseline struct {
	in  Input
	gen *nexmark.Gen
	// latest is the latest bid's time: the watermark.
	latest int64
	// panes holds the bids per auction of each pane (by start) of the
	// open windows; open, the starts of the open windows.
	panes map[int64]map[int64]int64
	open  map[int64]struct{}
	sum   map[int64]int64 // a closing window's counts, reused
}

func nexmarkQ5Baseline(in Input) func(int64, *Output) {
	q := &nxwQ5Baseline{in: in, gen: nxwGen(in), latest: nxwNoEvent, panes: make(map[int64]map[int64]int64),
		open: make(map[int64]struct{}), sum: make(map[int64]int64)}
	return q.step
}

func (q *nxwQ5Baseline) step(k int64, out *Output) {
	from, to, start, end := q.in.Range(k)
	var pane int64
	var counts map[int64]int64
	for _, e := range q.gen.Records(from, to, start, end) {
		if e.Kind != nexmark.KindBid {
			continue
		}
		b := e.Bid
		if p := nxwFloor(b.DateTime, nxwSlide); counts == nil || p != pane {
			pane, counts = p, q.pane(p)
		}
		counts[b.Auction]++
		q.latest = max(q.latest, b.DateTime)
	}
	var lines []string
	for _, s := range nxwClosing(q.open, nxwWindow, q.latest) {
		lines = q.close(s, lines, out != nil)
	}
	if out != nil {
		out.Add(end, lines...)
	}
}

// pane returns the counts of the pane starting at p, opening it and its
// windows if it is new.
func (q *nxwQ5Baseline) pane(p int64) map[int64]int64 {
	m := q.panes[p]
	if m == nil {
		m = make(map[int64]int64)
		q.panes[p] = m
		for s := p; s > p-nxwWindow; s -= nxwSlide {
			q.open[s] = struct{}{}
		}
	}
	return m
}

// close closes the window starting at s and appends its results to lines
// if format is set. Windows close in order of start, so pane s, whose
// last window this is, is dropped too.
func (q *nxwQ5Baseline) close(s int64, lines []string, format bool) []string {
	clear(q.sum)
	for p := s; p < s+nxwWindow; p += nxwSlide {
		for a, n := range q.panes[p] {
			q.sum[a] += n
		}
	}
	var best int64
	var hot []int64
	for a, n := range q.sum {
		switch {
		case n > best:
			best, hot = n, append(hot[:0], a)
		case n == best:
			hot = append(hot, a)
		}
	}
	for _, a := range hot {
		if format {
			lines = append(lines, formatHotItem(nxwHotItem{Start: s, Auction: a, Count: best}))
		}
	}
	delete(q.open, s)
	delete(q.panes, s)
	return lines
}

// q7, highest bid: in 10 s tumbling windows, the bids with the highest
// price (Flink: MAX(price) per TUMBLE(dateTime, 10 s), joined back with
// the window's bids at that price; here the window's own bids, [start,
// end), where Flink's BETWEEN also takes a bid at the end itself).

// nxwBidRef is a bid as q7 reports it.
type nxwBidRef struct{ Auction, Bidder, DateTime int64 }

// nxwHighest is the highest price of some bids, the bids at that price,
// and the latest time of all the bids.
type nxwHighest struct {
	Price, Latest int64
	Bids          []nxwBidRef
}

func (h nxwHighest) latest() int64 { return h.Latest }

// add adds a bid.
func (h *nxwHighest) add(price int64, b nxwBidRef) {
	h.Latest = max(h.Latest, b.DateTime)
	switch {
	case price > h.Price:
		h.Price, h.Bids = price, append(h.Bids[:0], b)
	case price == h.Price:
		h.Bids = append(h.Bids, b)
	}
}

func nxwHigher(a, b nxwHighest) nxwHighest {
	latest := max(a.Latest, b.Latest)
	switch {
	case a.Price > b.Price:
		a.Latest = latest
		return a
	case b.Price > a.Price:
		b.Latest = latest
		return b
	}
	return nxwHighest{Price: a.Price, Latest: latest, Bids: append(slices.Clip(a.Bids), b.Bids...)}
}

// nxwQ7Item is a q7 result: a bid with the highest price of the window
// starting at Start.
type nxwQ7Item struct {
	Start, Price int64
	Bid          nxwBidRef
}

func formatQ7(r nxwQ7Item) string {
	return nxwTime(r.Start) + " " + strconv.FormatInt(r.Bid.Auction, 10) + " " + strconv.FormatInt(r.Price, 10) + " " +
		strconv.FormatInt(r.Bid.Bidder, 10) + " " + nxwTime(r.Bid.DateTime)
}

func buildNexmarkQ7(c *sluice.Context, seed uint64, rate int, out *Output) {
	highest := sluice.MapPartitions(nxwEvents(c, seed, rate), nxwHighestBids)
	windows := sluice.ReduceByKeyAndEventWindow(highest, nxwEventTime[int64, nxwHighest], nxwHigher,
		time.Duration(nxwWindow), time.Duration(nxwWindow), sluice.Named("nexmark-q7-highest"))
	items := sluice.FlatMap(windows, func(kv sluice.KV[sluice.EventWindow[int64], nxwHighest]) []nxwQ7Item {
		out := make([]nxwQ7Item, len(kv.Value.Bids))
		for i, b := range kv.Value.Bids {
			out[i] = nxwQ7Item{Start: kv.Key.Start.UnixNano(), Price: kv.Value.Price, Bid: b}
		}
		return out
	})
	Emit(items, out, formatQ7)
}

// nxwHighestBids returns a partition's highest bids per window, keyed by
// the window's start (one key per window: the state is tiny).
func nxwHighestBids(events []nexmark.Event) []sluice.KV[int64, nxwHighest] {
	var out []sluice.KV[int64, nxwHighest]
	for _, e := range events {
		if e.Kind != nexmark.KindBid {
			continue
		}
		b := e.Bid
		s := nxwFloor(b.DateTime, nxwWindow)
		i := slices.IndexFunc(out, func(kv sluice.KV[int64, nxwHighest]) bool { return kv.Key == s })
		if i < 0 { // a partition spans a window or two
			i = len(out)
			out = append(out, sluice.Pair(s, nxwHighest{Price: math.MinInt64, Latest: nxwNoEvent}))
		}
		out[i].Value.add(b.Price, nxwBidRef{Auction: b.Auction, Bidder: b.Bidder, DateTime: b.DateTime})
	}
	return out
}

// nxwQ7Baseline keeps the highest bids of each open window.
type nxwQ7Baseline struct {
	in      Input
	gen     *nexmark.Gen
	latest  int64 // the latest bid's time: the watermark
	windows map[int64]*nxwHighest
}

func nexmarkQ7Baseline(in Input) func(int64, *Output) {
	q := &nxwQ7Baseline{in: in, gen: nxwGen(in), latest: nxwNoEvent, windows: make(map[int64]*nxwHighest)}
	return q.step
}

func (q *nxwQ7Baseline) step(k int64, out *Output) {
	from, to, start, end := q.in.Range(k)
	var h *nxwHighest
	var ws int64
	for _, e := range q.gen.Records(from, to, start, end) {
		if e.Kind != nexmark.KindBid {
			continue
		}
		b := e.Bid
		if s := nxwFloor(b.DateTime, nxwWindow); h == nil || s != ws {
			ws, h = s, q.windows[s]
			if h == nil {
				h = &nxwHighest{Price: math.MinInt64, Latest: nxwNoEvent}
				q.windows[s] = h
			}
		}
		h.add(b.Price, nxwBidRef{Auction: b.Auction, Bidder: b.Bidder, DateTime: b.DateTime})
		q.latest = max(q.latest, b.DateTime)
	}
	var lines []string
	for _, s := range nxwClosing(q.windows, nxwWindow, q.latest) {
		if out != nil {
			w := q.windows[s]
			for _, b := range w.Bids {
				lines = append(lines, formatQ7(nxwQ7Item{Start: s, Price: w.Price, Bid: b}))
			}
		}
		delete(q.windows, s)
	}
	if out != nil {
		out.Add(end, lines...)
	}
}

// q8, monitor new users: the people who registered and created an auction
// in the same 10 s tumbling window (Flink: persons and auctions, each
// grouped per TUMBLE(dateTime, 10 s), joined on id = seller and the
// window). One operator over both keeps them by person id, so its
// watermark is the latest time of the people and auctions.

// nxwUsers is what q8 knows of a group of nxwGroup consecutive person ids
// (the key: id / nxwGroup, as q5 groups auctions) in a window: bit i of
// Registered and of Sold is for person key·nxwGroup+i, and Names[i] is the
// name they registered with. Latest is the latest event time of the
// records.
type nxwUsers struct {
	Registered, Sold uint64 // nxwGroup bits
	Latest           int64
	Names            [nxwGroup]string
}

func (u nxwUsers) latest() int64 { return u.Latest }

func nxwMergeUsers(a, b nxwUsers) nxwUsers {
	for r := b.Registered &^ a.Registered; r != 0; r &= r - 1 {
		i := bits.TrailingZeros64(r)
		a.Names[i] = b.Names[i]
	}
	a.Registered, a.Sold, a.Latest = a.Registered|b.Registered, a.Sold|b.Sold, max(a.Latest, b.Latest)
	return a
}

// nxwQ8Item is a q8 result.
type nxwQ8Item struct {
	Start, ID int64
	Name      string
}

func formatQ8(r nxwQ8Item) string {
	return nxwTime(r.Start) + " " + strconv.FormatInt(r.ID, 10) + " " + r.Name
}

func buildNexmarkQ8(c *sluice.Context, seed uint64, rate int, out *Output) {
	users := sluice.MapPartitions(nxwEvents(c, seed, rate), nxwCollectUsers)
	windows := sluice.ReduceByKeyAndEventWindow(users, nxwEventTime[int64, nxwUsers], nxwMergeUsers,
		time.Duration(nxwWindow), time.Duration(nxwWindow), sluice.Named("nexmark-q8-users"))
	items := sluice.FlatMap(windows, func(kv sluice.KV[sluice.EventWindow[int64], nxwUsers]) []nxwQ8Item {
		var out []nxwQ8Item
		u := &kv.Value
		for both := u.Registered & u.Sold; both != 0; both &= both - 1 {
			i := bits.TrailingZeros64(both)
			out = append(out, nxwQ8Item{Start: kv.Key.Start.UnixNano(), ID: kv.Key.Key*nxwGroup + int64(i), Name: u.Names[i]})
		}
		return out
	})
	Emit(items, out, formatQ8)
}

// nxwCollectUsers returns a partition's people and sellers, one record per
// group of person ids and window.
func nxwCollectUsers(events []nexmark.Event) []sluice.KV[int64, nxwUsers] {
	type groupKey struct{ group, window int64 }
	at := make(map[groupKey]int)
	var out []sluice.KV[int64, nxwUsers]
	group := func(id, t int64) *nxwUsers {
		k := groupKey{id / nxwGroup, nxwFloor(t, nxwWindow)}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, sluice.Pair(k.group, nxwUsers{Latest: t}))
		}
		u := &out[i].Value
		u.Latest = max(u.Latest, t)
		return u
	}
	for _, e := range events {
		switch e.Kind {
		case nexmark.KindPerson:
			p := e.Person
			u, i := group(p.ID, p.DateTime), p.ID%nxwGroup
			u.Registered |= 1 << i
			u.Names[i] = p.Name
		case nexmark.KindAuction:
			a := e.Auction
			group(a.Seller, a.DateTime).Sold |= 1 << (a.Seller % nxwGroup)
		}
	}
	return out
}

// nxwQ8Window is a window of q8's baseline: its people's names, and its
// sellers.
type nxwQ8Window struct {
	names   map[int64]string
	sellers map[int64]struct{}
}

// nxwQ8Baseline keeps the people and sellers of each open window.
type nxwQ8Baseline struct {
	in      Input
	gen     *nexmark.Gen
	latest  int64 // the latest person's or auction's time: the watermark
	windows map[int64]*nxwQ8Window
}

func nexmarkQ8Baseline(in Input) func(int64, *Output) {
	q := &nxwQ8Baseline{in: in, gen: nxwGen(in), latest: nxwNoEvent, windows: make(map[int64]*nxwQ8Window)}
	return q.step
}

// window returns the window holding t.
func (q *nxwQ8Baseline) window(t int64) *nxwQ8Window {
	s := nxwFloor(t, nxwWindow)
	w := q.windows[s]
	if w == nil {
		w = &nxwQ8Window{names: make(map[int64]string), sellers: make(map[int64]struct{})}
		q.windows[s] = w
	}
	return w
}

func (q *nxwQ8Baseline) step(k int64, out *Output) {
	from, to, start, end := q.in.Range(k)
	for _, e := range q.gen.Records(from, to, start, end) {
		switch e.Kind {
		case nexmark.KindPerson:
			p := e.Person
			q.window(p.DateTime).names[p.ID] = p.Name
			q.latest = max(q.latest, p.DateTime)
		case nexmark.KindAuction:
			a := e.Auction
			q.window(a.DateTime).sellers[a.Seller] = struct{}{}
			q.latest = max(q.latest, a.DateTime)
		}
	}
	var lines []string
	for _, s := range nxwClosing(q.windows, nxwWindow, q.latest) {
		w := q.windows[s]
		for id := range w.sellers {
			if name, ok := w.names[id]; ok && out != nil {
				lines = append(lines, formatQ8(nxwQ8Item{Start: s, ID: id, Name: name}))
			}
		}
		delete(q.windows, s)
	}
	if out != nil {
		out.Add(end, lines...)
	}
}

// q4, average price for a category: the average winning price of the
// closed auctions of each category (Flink: MAX(price) of the bids with
// dateTime BETWEEN the auction's dateTime and expires, per auction, then
// AVG per category; like Flink's SQL, and unlike Beam's, it ignores the
// reserve price).
//
// An auction closes in the first batch after which the watermark — the
// latest event time of all the events so far, as for event-time windows —
// is past its Expires: every bid that can win it has then arrived, since
// event times never go back. Its winning price is the highest price of its
// bids timed in [DateTime, Expires]; an auction without such a bid has no
// winner and does not count. Each batch emits the running average of the
// categories in which some auction closed with a winner.
//
// The job keeps the open auctions in nxwBuckets(c) keyed states (auction
// id modulo the number of buckets), and each input partition sends each
// bucket one record per batch: its auctions, its bids on auctions it does
// not hold (those on the auctions it holds it resolves itself), and its
// latest event time, so every bucket knows the watermark. The state drops
// an auction once it closes, and bids on auctions it does not hold: they
// precede the auction's creation (an auction a bid names may come up to
// ten auctions later) or follow its end.

// nxwQ4Auction is an open auction.
type nxwQ4Auction struct {
	ID, Category, DateTime, Expires int64
	// Max is the highest price of the valid bids seen so far, 0 if none
	// (prices are at least 100 cents).
	Max int64
}

// valid says whether a bid at time t may win a.
func (a *nxwQ4Auction) valid(t int64) bool { return a.DateTime <= t && t <= a.Expires }

// nxwQ4Bid is a bid as q4 needs it.
type nxwQ4Bid struct{ Auction, Price, DateTime int64 }

// nxwQ4Part is what an input partition sends a bucket in a batch.
type nxwQ4Part struct {
	Latest   int64 // the partition's latest event time (nxwNoEvent: none)
	Auctions []nxwQ4Auction
	Bids     []nxwQ4Bid // bids on auctions the partition does not hold
}

// nxwQ4State is a bucket's state after a batch.
type nxwQ4State struct {
	Watermark int64
	Open      map[int64]nxwQ4Auction
	Won       []nxwQ4Win // the auctions that closed with a winner in the batch
}

// nxwQ4Win is a closed auction's category and winning price.
type nxwQ4Win struct{ Category, Price int64 }

// nxwQ4Avg is a category's sum and number of winning prices; Changed says
// whether the batch changed them.
type nxwQ4Avg struct {
	Sum, N  int64
	Changed bool
}

func formatQ4(kv sluice.KV[int64, nxwQ4Avg]) string {
	avg := strconv.FormatFloat(float64(kv.Value.Sum)/float64(kv.Value.N), 'f', 2, 64)
	return strconv.FormatInt(kv.Key, 10) + " " + avg + " " + strconv.FormatInt(kv.Value.N, 10)
}

// nxwBucketPartitioner places bucket b in partition b mod n.
type nxwBucketPartitioner int

func (n nxwBucketPartitioner) Partitions() int     { return int(n) }
func (n nxwBucketPartitioner) Partition(b int) int { return b % int(n) }
func (n nxwBucketPartitioner) Name() string        { return "nexmark-q4-buckets" }

func buildNexmarkQ4(c *sluice.Context, seed uint64, rate int, out *Output) {
	buckets := c.Parallelism()
	parts := sluice.MapPartitions(nxwEvents(c, seed, rate), func(events []nexmark.Event) []sluice.KV[int, nxwQ4Part] {
		return nxwQ4Split(events, buckets)
	})
	states := sluice.UpdateStateByKey(parts, nxwQ4Update, sluice.Named("nexmark-q4-auctions"),
		sluice.WithPartitioner[int](nxwBucketPartitioner(buckets)))
	wins := sluice.MapPartitions(states, func(p []sluice.KV[int, nxwQ4State]) []sluice.KV[int64, nxwQ4Avg] {
		var sums [nexmark.Categories]nxwQ4Avg
		for _, kv := range p {
			for _, w := range kv.Value.Won {
				s := &sums[w.Category-nexmark.FirstCategoryID]
				s.Sum, s.N = s.Sum+w.Price, s.N+1
			}
		}
		var out []sluice.KV[int64, nxwQ4Avg]
		for i, s := range sums {
			if s.N > 0 {
				out = append(out, sluice.Pair(int64(nexmark.FirstCategoryID+i), s))
			}
		}
		return out
	})
	avgs := sluice.UpdateStateByKey(wins, func(_ int64, vs []nxwQ4Avg, st nxwQ4Avg, _ bool) (nxwQ4Avg, bool) {
		st.Changed = len(vs) > 0
		for _, v := range vs {
			st.Sum, st.N = st.Sum+v.Sum, st.N+v.N
		}
		return st, true
	}, sluice.Named("nexmark-q4-categories"))
	Emit(sluice.Filter(avgs, func(kv sluice.KV[int64, nxwQ4Avg]) bool { return kv.Value.Changed }), out, formatQ4)
}

// nxwQ4Split splits a partition's events into one record per bucket.
func nxwQ4Split(events []nexmark.Event, buckets int) []sluice.KV[int, nxwQ4Part] {
	out := make([]sluice.KV[int, nxwQ4Part], buckets)
	type place struct{ bucket, i int }
	held := make(map[int64]place)
	latest := int64(nxwNoEvent)
	for _, e := range events {
		if e.Kind != nexmark.KindAuction {
			continue
		}
		a := e.Auction
		b := int(a.ID % int64(buckets))
		held[a.ID] = place{b, len(out[b].Value.Auctions)}
		out[b].Value.Auctions = append(out[b].Value.Auctions, nxwQ4Auction{ID: a.ID, Category: a.Category,
			DateTime: a.DateTime, Expires: a.Expires})
		latest = max(latest, a.DateTime)
	}
	for _, e := range events {
		switch e.Kind {
		case nexmark.KindPerson:
			latest = max(latest, e.Person.DateTime)
		case nexmark.KindBid:
			bid := e.Bid
			latest = max(latest, bid.DateTime)
			if p, ok := held[bid.Auction]; ok {
				if a := &out[p.bucket].Value.Auctions[p.i]; a.valid(bid.DateTime) {
					a.Max = max(a.Max, bid.Price)
				}
				continue
			}
			b := int(bid.Auction % int64(buckets))
			out[b].Value.Bids = append(out[b].Value.Bids, nxwQ4Bid{Auction: bid.Auction, Price: bid.Price, DateTime: bid.DateTime})
		}
	}
	for b := range out {
		out[b].Key, out[b].Value.Latest = b, latest
	}
	return out
}

// nxwQ4Update computes a bucket's state after a batch from the parts the
// input partitions sent it. It leaves the previous state unchanged (a task
// may run again).
func nxwQ4Update(_ int, parts []nxwQ4Part, st nxwQ4State, exists bool) (nxwQ4State, bool) {
	next := nxwQ4State{Watermark: nxwNoEvent, Open: make(map[int64]nxwQ4Auction, len(st.Open))}
	if exists {
		next.Watermark = st.Watermark
	}
	var bids map[int64][]nxwQ4Bid
	for _, p := range parts {
		next.Watermark = max(next.Watermark, p.Latest)
		for _, b := range p.Bids {
			if bids == nil {
				bids = make(map[int64][]nxwQ4Bid)
			}
			bids[b.Auction] = append(bids[b.Auction], b)
		}
	}
	add := func(a nxwQ4Auction) {
		for _, b := range bids[a.ID] {
			if a.valid(b.DateTime) {
				a.Max = max(a.Max, b.Price)
			}
		}
		switch {
		case a.Expires >= next.Watermark:
			next.Open[a.ID] = a
		case a.Max > 0:
			next.Won = append(next.Won, nxwQ4Win{Category: a.Category, Price: a.Max})
		}
	}
	for _, a := range st.Open {
		add(a)
	}
	for _, p := range parts {
		for _, a := range p.Auctions {
			add(a)
		}
	}
	return next, true
}

// nxwQ4Baseline keeps the open auctions and the categories' sums.
type nxwQ4Baseline struct {
	in     Input
	gen    *nexmark.Gen
	latest int64 // the latest event time: the watermark
	open   map[int64]nxwQ4Auction
	sums   [nexmark.Categories]nxwQ4Avg
}

func nexmarkQ4Baseline(in Input) func(int64, *Output) {
	q := &nxwQ4Baseline{in: in, gen: nxwGen(in), latest: nxwNoEvent, open: make(map[int64]nxwQ4Auction)}
	return q.step
}

func (q *nxwQ4Baseline) step(k int64, out *Output) {
	from, to, start, end := q.in.Range(k)
	for _, e := range q.gen.Records(from, to, start, end) {
		switch e.Kind {
		case nexmark.KindPerson:
			q.latest = max(q.latest, e.Person.DateTime)
		case nexmark.KindAuction:
			a := e.Auction
			q.open[a.ID] = nxwQ4Auction{ID: a.ID, Category: a.Category, DateTime: a.DateTime, Expires: a.Expires}
			q.latest = max(q.latest, a.DateTime)
		case nexmark.KindBid:
			b := e.Bid
			// A bid before its auction finds none (they come in time order).
			if a, ok := q.open[b.Auction]; ok && a.valid(b.DateTime) && b.Price > a.Max {
				a.Max = b.Price
				q.open[b.Auction] = a
			}
			q.latest = max(q.latest, b.DateTime)
		}
	}
	for i := range q.sums {
		q.sums[i].Changed = false
	}
	for id, a := range q.open {
		if a.Expires < q.latest {
			if a.Max > 0 {
				s := &q.sums[a.Category-nexmark.FirstCategoryID]
				s.Sum, s.N, s.Changed = s.Sum+a.Max, s.N+1, true
			}
			delete(q.open, id)
		}
	}
	if out != nil {
		for i, s := range q.sums {
			if s.Changed {
				out.Add(end, formatQ4(sluice.Pair(int64(nexmark.FirstCategoryID+i), s)))
			}
		}
	}
}
