package nexmark

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Gen makes Nexmark events. Build one with New; it is immutable and safe
// for concurrent use.
type Gen struct {
	cfg Config
	// horizonMs is the average auction length (Config.auctionHorizon).
	horizonMs int64
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
	g := &Gen{cfg: cfg, horizonMs: cfg.auctionHorizon(), coldURLs: make([]string, coldChannels)}
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
// as sluice.Generator asks. It panics if to < from or end < start.
func (g *Gen) Records(from, to int64, start, end time.Time) []Event {
	if to < from || end.Before(start) {
		panic(fmt.Sprintf("nexmark: bad range [%d, %d) over [%v, %v)", from, to, start, end))
	}
	n := uint64(to - from)
	out := make([]Event, 0, n)
	t0 := start.UnixNano()
	span := uint64(end.UnixNano() - t0)
	for k := range n {
		hi, lo := bits.Mul64(k, span)
		q, _ := bits.Div64(hi, lo, n) // hi < n since k < n: no overflow
		out = append(out, g.Event(from+int64(k), t0+int64(q)))
	}
	return out
}

// Event returns event i (i ≥ 0) with time t in Unix nanoseconds. Its kind
// is a function of i alone; its fields, of the seed, i and t.
func (g *Gen) Event(i, t int64) Event {
	if i < 0 {
		panic(fmt.Sprintf("nexmark: negative event number %d", i))
	}
	r := newRNG(g.cfg.Seed, domainEvent, i)
	switch k := g.cfg.kind(i); k {
	case KindPerson:
		return Event{Kind: k, Person: g.person(i, t, &r)}
	case KindAuction:
		return Event{Kind: k, Auction: g.auction(i, t, &r)}
	default:
		return Event{Kind: k, Bid: g.bid(i, t, &r)}
	}
}

var (
	usStates   = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// person makes the person of event i. Its strings share one allocation.
func (g *Gen) person(i, t int64, r *rng) *Person {
	p := &Person{ID: g.cfg.lastPerson(i) + FirstPersonID, DateTime: t}
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
	s := string(b)
	p.Name, p.EmailAddress, p.CreditCard, p.Extra = s[:name], s[name:email], s[email:card], s[card:]
	return p
}

// auction makes the auction of event i. Its strings share one allocation.
func (g *Gen) auction(i, t int64, r *rng) *Auction {
	a := &Auction{ID: g.cfg.lastAuction(i) + FirstAuctionID, DateTime: t}
	// The hot seller is the first of the last group of hotGroup people.
	if r.intn(g.cfg.HotSellersRatio) > 0 {
		a.Seller = g.cfg.lastPerson(i) / hotGroup * hotGroup
	} else {
		lo, hi := g.cfg.activePeople(i)
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
	s := string(b)
	a.ItemName, a.Description, a.Extra = s[:name], s[name:desc], s[desc:]
	return a
}

// bid makes the bid of event i.
func (g *Gen) bid(i, t int64, r *rng) *Bid {
	b := &Bid{DateTime: t}
	// The hot auction is the first of the last group of hotGroup auctions.
	if r.intn(g.cfg.HotAuctionRatio) > 0 {
		b.Auction = g.cfg.lastAuction(i) / hotGroup * hotGroup
	} else {
		lo, hi := g.cfg.inFlightAuctions(i)
		b.Auction = lo + r.int63n(hi-lo)
	}
	b.Auction += FirstAuctionID
	// The hot bidder is the second of the last group of hotGroup people,
	// so that hot bidders and hot sellers differ.
	if r.intn(g.cfg.HotBiddersRatio) > 0 {
		b.Bidder = g.cfg.lastPerson(i)/hotGroup*hotGroup + 1
	} else {
		lo, hi := g.cfg.activePeople(i)
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
	b.Extra = string(appendExtra(arr[:0], r, 4*8, g.cfg.AvgBidBytes))
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
	return int64(math.Round(math.Pow(10, r.float()*6) * 100))
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
	// 26^13 < 2^64: one draw gives 13 letters.
	for n > 0 {
		v := r.next()
		for k := 0; k < 13 && n > 0; k, n = k+1, n-1 {
			b = append(b, byte('a'+v%26))
			v /= 26
		}
	}
	return b
}

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
