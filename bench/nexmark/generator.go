package nexmark

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Gen makes Nexmark events. Build one with New; it is immutable and safe
// for concurrent use.
type Gen struct {
	cfg Config
	// horizonMs is the average auction length (Config.auctionHorizon).
	horizonMs int64
	// eventKey starts event i's random stream: newRNG(seed, domainEvent,
	// i) is rng{mix(eventKey ^ i)}.
	eventKey uint64
	// hotURLs[k] is hotChannels[k]'s URL; coldURLs[n] is channel-n's.
	// Made once, like Flink's channel cache, since a channel's URL is a
	// function of the channel (and the seed) only.
	hotURLs  [len(hotChannels)]string
	coldURLs []string
}

// New returns a generator for cfg, or an error if a field of cfg is out
// of range.
func New(cfg Config) (*Gen, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Gen{cfg: cfg, horizonMs: cfg.auctionHorizon(), eventKey: streamKey(cfg.Seed, domainEvent),
		coldURLs: make([]string, coldChannels)}
	for k := range hotChannels {
		r := newRNG(cfg.Seed, domainHotChannel, int64(k))
		g.hotURLs[k] = string(appendBaseURL(nil, &r))
	}
	for n := range coldChannels {
		r := newRNG(cfg.Seed, domainColdChannel, int64(n))
		b := appendBaseURL(nil, &r)
		if r.intn(10) > 0 { // Flink: most channel URLs carry the channel id
			b = strconv.AppendUint(append(b, "&channel_id="...), uint64(bits.Reverse32(uint32(n))>>1), 10)
		}
		g.coldURLs[n] = string(b)
	}
	return g, nil
}

// Generator returns a sluice.Generator of cfg's events. It panics if a
// field of cfg is out of range (a programming error, found when the
// graph is built).
func Generator(cfg Config) sluice.Generator[Event] {
	g, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return g
}

// Config returns the generator's configuration, defaults filled in.
func (g *Gen) Config() Config { return g.cfg }

// Records returns events [from, to), their times spread evenly over
// [start, end): event from+k has time start + ⌊k·(end−start)/(to−from)⌋,
// as sluice.Generator asks. It panics if to < from, from < 0 or end <
// start.
//
// The events' records come from small shared blocks (see arena), so
// one kept alive keeps a few others' memory alive too.
func (g *Gen) Records(from, to int64, start, end time.Time) []Event {
	if to < from || from < 0 || end.Before(start) {
		panic(fmt.Sprintf("nexmark: bad range [%d, %d) over [%v, %v)", from, to, start, end))
	}
	n := uint64(to - from)
	out := make([]Event, n)
	if n == 0 {
		return out
	}
	t0 := start.UnixNano()
	span := uint64(end.UnixNano() - t0)
	// ⌊k·span/n⌋ = k·step + ⌊k·rem/n⌋: the quotient q and the remainder
	// acc of the last term grow by step and rem from event to event.
	step, rem := span/n, span%n
	var q, acc uint64
	var a arena
	at := g.cfg.pos(from)
	for k := range out {
		out[k] = g.event(from+int64(k), at, t0+int64(q), &a)
		q += step
		if acc += rem; acc >= n {
			acc -= n
			q++
		}
		at = g.cfg.next(at)
	}
	return out
}

// Event returns event i (i ≥ 0) with time t in Unix nanoseconds. Its kind
// is a function of i alone; its fields, of the seed, i and t.
func (g *Gen) Event(i, t int64) Event {
	if i < 0 {
		panic(fmt.Sprintf("nexmark: negative event number %d", i))
	}
	return g.event(i, g.cfg.pos(i), t, nil)
}

// event makes event i, at place at, with time t, its records from a (or
// allocated one by one if a is nil).
func (g *Gen) event(i int64, at pos, t int64, a *arena) Event {
	r := rng{s: mix(g.eventKey ^ uint64(i))}
	switch k := g.cfg.kind(at); k {
	case KindPerson:
		return Event{Kind: k, Person: g.person(at, t, &r, a)}
	case KindAuction:
		return Event{Kind: k, Auction: g.auction(at, t, &r, a)}
	default:
		return Event{Kind: k, Bid: g.bid(at, t, &r, a)}
	}
}

// arena hands out the records and strings of one Records call from
// blocks, one allocation per block rather than one per record. A block
// lives as long as any of its records or strings, so blocks are small.
// A nil arena allocates each one on its own.
type arena struct {
	people   []Person
	auctions []Auction
	bids     []Bid
	// text holds the strings: a strings.Builder's String never copies,
	// and the bytes it returned never change.
	text strings.Builder
}

// Records per block (bids are most events), and bytes per text block.
const (
	peopleBlock   = 4
	auctionsBlock = 8
	bidsBlock     = 32
	textBlock     = 4096
)

// str returns b as a string.
func (a *arena) str(b []byte) string {
	if a == nil {
		return string(b)
	}
	if a.text.Cap()-a.text.Len() < len(b) {
		a.text = strings.Builder{}
		a.text.Grow(max(textBlock, len(b)))
	}
	a.text.Write(b)
	s := a.text.String()
	return s[len(s)-len(b):]
}

func (a *arena) person() *Person {
	if a == nil {
		return new(Person)
	}
	return take(&a.people, peopleBlock)
}

func (a *arena) auction() *Auction {
	if a == nil {
		return new(Auction)
	}
	return take(&a.auctions, auctionsBlock)
}

func (a *arena) bid() *Bid {
	if a == nil {
		return new(Bid)
	}
	return take(&a.bids, bidsBlock)
}

// take hands out the first element of *free, a fresh block of n made
// when it is empty.
func take[T any](free *[]T, n int) *T {
	if len(*free) == 0 {
		*free = make([]T, n)
	}
	p := &(*free)[0]
	*free = (*free)[1:]
	return p
}

var (
	usStates   = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// person makes the person of the event at place at, from ar. Its strings
// are parts of one.
func (g *Gen) person(at pos, t int64, r *rng, ar *arena) *Person {
	p := ar.person()
	*p = Person{ID: g.cfg.lastPerson(at) + FirstPersonID, DateTime: t}
	var arr [256]byte
	b := append(arr[:0], firstNames[r.intn(len(firstNames))]...)
	b = append(append(b, ' '), lastNames[r.intn(len(lastNames))]...)
	name := len(b)
	b = appendString(b, r, 7)
	b = append(appendString(append(b, '@'), r, 5), ".com"...)
	email := len(b)
	for k := range 4 {
		if k > 0 {
			b = append(b, ' ')
		}
		b = appendDigits4(b, r.intn(10_000))
	}
	card := len(b)
	p.City, p.State = usCities[r.intn(len(usCities))], usStates[r.intn(len(usStates))]
	b = appendExtra(b, r, 8+card+len(p.City)+len(p.State), g.cfg.AvgPersonBytes)
	s := ar.str(b)
	p.Name, p.EmailAddress, p.CreditCard, p.Extra = s[:name], s[name:email], s[email:card], s[card:]
	return p
}

// auction makes the auction of the event at place at, from ar. Its
// strings are parts of one.
func (g *Gen) auction(at pos, t int64, r *rng, ar *arena) *Auction {
	a := ar.auction()
	*a = Auction{ID: g.cfg.lastAuction(at) + FirstAuctionID, DateTime: t}
	// The hot seller is the first of the last group of hotGroup people.
	if r.intn(g.cfg.HotSellersRatio) > 0 {
		a.Seller = g.cfg.lastPerson(at) / hotGroup * hotGroup
	} else {
		lo, hi := g.cfg.activePeople(at)
		a.Seller = lo + r.int63n(hi-lo)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + int64(r.intn(Categories))
	a.InitialBid = nextPrice(r)
	a.Expires = t + (1+r.int63n(max(2*g.horizonMs, 1)))*int64(time.Millisecond)
	var arr [640]byte
	b := appendString(arr[:0], r, 20)
	name := len(b)
	b = appendString(b, r, 100)
	desc := len(b)
	a.Reserve = a.InitialBid + nextPrice(r)
	b = appendExtra(b, r, 8+desc+5*8, g.cfg.AvgAuctionBytes)
	s := ar.str(b)
	a.ItemName, a.Description, a.Extra = s[:name], s[name:desc], s[desc:]
	return a
}

// bid makes the bid of the event at place at, from ar.
func (g *Gen) bid(at pos, t int64, r *rng, ar *arena) *Bid {
	b := ar.bid()
	*b = Bid{DateTime: t}
	// The hot auction is the first of the last group of hotGroup auctions.
	if r.intn(g.cfg.HotAuctionRatio) > 0 {
		b.Auction = g.cfg.lastAuction(at) / hotGroup * hotGroup
	} else {
		lo, hi := g.cfg.inFlightAuctions(at)
		b.Auction = lo + r.int63n(hi-lo)
	}
	b.Auction += FirstAuctionID
	// The hot bidder is the second of the last group of hotGroup people,
	// so that hot bidders and hot sellers differ.
	if r.intn(g.cfg.HotBiddersRatio) > 0 {
		b.Bidder = g.cfg.lastPerson(at)/hotGroup*hotGroup + 1
	} else {
		lo, hi := g.cfg.activePeople(at)
		b.Bidder = lo + r.int63n(hi-lo)
	}
	b.Bidder += FirstPersonID
	b.Price = nextPrice(r)
	if r.intn(hotChannelsRatio) > 0 {
		k := r.intn(len(hotChannels))
		b.Channel, b.URL = hotChannels[k], g.hotURLs[k]
	} else {
		n := r.intn(coldChannels)
		b.Channel, b.URL = coldChannelName(n), g.coldURLs[n]
	}
	var arr [256]byte
	b.Extra = ar.str(appendExtra(arr[:0], r, 4*8, g.cfg.AvgBidBytes))
	return b
}

// coldChannelNames holds "channel-N" for every cold channel, shared by
// all generators.
var coldChannelNames = func() []string {
	out := make([]string, coldChannels)
	for n := range out {
		out[n] = "channel-" + strconv.Itoa(n)
	}
	return out
}()

func coldChannelName(n int) string { return coldChannelNames[n] }

// nextPrice returns a price in cents, log-uniform in [$1, $1,000,000].
func nextPrice(r *rng) int64 {
	return int64(math.Round(pow10(r.float()*6) * 100))
}

// ln10 is math.Log(10), as math.Pow computes it.
var ln10 = math.Log(10)

// pow10 returns math.Pow(10, y), bit for bit, for y in [0, 6]: math.Pow's
// own steps for x = 10, with Log(10) and Frexp(10) done once, and its
// Ldexp as a multiplication by a power of two, exact in this range.
func pow10(y float64) float64 {
	switch y {
	case 0:
		return 1
	case 1:
		return 10
	case 0.5:
		return math.Sqrt(10)
	}
	yi, yf := math.Modf(y)
	a1 := 1.0
	if yf != 0 {
		if yf > 0.5 {
			yf--
			yi++
		}
		a1 = math.Exp(yf * ln10)
	}
	// 10**yi by successive squarings of Frexp(10) = 0.625·2^4.
	x1, xe, ae := 0.625, 4, 0
	for i := int64(yi); i != 0; i >>= 1 {
		if i&1 == 1 {
			a1 *= x1
			ae += xe
		}
		x1 *= x1
		xe <<= 1
		if x1 < .5 {
			x1 += x1
			xe--
		}
	}
	return a1 * float64(uint64(1)<<ae)
}

// appendString appends a random string of 3 to maxLen-1 characters,
// lowercase letters with about one space in 13, trimmed of spaces.
func appendString(b []byte, r *rng, maxLen int) []byte {
	n := 3 + r.intn(maxLen-3)
	start := len(b)
	for range n {
		v := r.next()
		if v%13 == 0 {
			if len(b) > start { // a leading space would be trimmed
				b = append(b, ' ')
			}
		} else {
			b = append(b, byte('a'+(v>>32)%26))
		}
	}
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// appendExtra appends lowercase letters such that size plus their number
// is avg on average (±20%), or nothing if size already exceeds avg.
func appendExtra(b []byte, r *rng, size, avg int) []byte {
	if size > avg {
		return b
	}
	avg -= size
	delta := int(math.Round(float64(avg) * 0.2))
	n := avg - delta
	if delta > 0 {
		n += r.intn(2 * delta)
	}
	// 26^13 < 2^64: one draw gives 13 letters, its base-26 digits from
	// the lowest.
	at := len(b)
	b = slices.Grow(b, n)[:at+n]
	for ; n >= 13; at, n = at+13, n-13 {
		// Digits 0–5 and 6–11 in two independent 32-bit chains.
		v := r.next()
		hi := v / pow26x6
		put6Letters(b[at:at+6], uint32(v-hi*pow26x6))
		put6Letters(b[at+6:at+12], uint32(hi%pow26x6))
		b[at+12] = byte('a' + hi/pow26x6%26)
	}
	if n > 0 {
		v := r.next()
		for k := range n {
			b[at+k] = byte('a' + v%26)
			v /= 26
		}
	}
	return b
}

const pow26x6 = 26 * 26 * 26 * 26 * 26 * 26

// put6Letters writes v's 6 base-26 digits (v < 26^6) into d as letters,
// the lowest first.
func put6Letters(d []byte, v uint32) {
	_ = d[5]
	p0, v := &letterPairs[v%(26*26)], v/(26*26)
	p1, v := &letterPairs[v%(26*26)], v/(26*26)
	p2 := &letterPairs[v]
	d[0], d[1], d[2], d[3], d[4], d[5] = p0[0], p0[1], p1[0], p1[1], p2[0], p2[1]
}

// letterPairs[v] is v's two lowest base-26 digits as letters, lowest first.
var letterPairs = func() (t [26 * 26][2]byte) {
	for v := range t {
		t[v] = [2]byte{byte('a' + v%26), byte('a' + v/26)}
	}
	return t
}()

// appendDigits4 appends v in [0, 10000) as four digits.
func appendDigits4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendBaseURL appends a random item URL, as Flink's getBaseUrl.
func appendBaseURL(b []byte, r *rng) []byte {
	b = append(b, "https://www.nexmark.com/"...)
	for range 3 {
		b = append(appendURLPart(b, r), '/')
	}
	return append(b, "item.htm?query=1"...)
}

// appendURLPart appends 3 or 4 letters, with '_' for Flink's spaces.
func appendURLPart(b []byte, r *rng) []byte {
	start := len(b)
	b = appendString(b, r, 5)
	for k := start; k < len(b); k++ {
		if b[k] == ' ' {
			b[k] = '_'
		}
	}
	return b
}
