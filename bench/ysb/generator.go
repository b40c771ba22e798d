package ysb

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// The benchmark's sizes and value sets, as its data generator has them.
const (
	Campaigns      = 100
	AdsPerCampaign = 10
	Ads            = Campaigns * AdsPerCampaign
	Users          = 100
	Pages          = 100
	// Window is the length of the tumbling event-time windows the
	// benchmark counts views in.
	Window = 10 * time.Second
	// IPAddress is every event's ip_address.
	IPAddress = "1.2.3.4"
)

var (
	// AdTypes and EventTypes are the values of ad_type and event_type,
	// each drawn uniformly.
	AdTypes    = [...]string{"banner", "modal", "sponsored-search", "mail", "mobile"}
	EventTypes = [...]string{"view", "click", "purchase"}
)

// Domains separate the random streams drawn from one seed.
const (
	domainEvent uint64 = iota + 1
	domainUser
	domainPage
	domainAd
	domainCampaign
)

// golden is splitmix64's increment, 2^64 divided by the golden ratio.
const golden = 0x9e3779b97f4a7c15

// mix is splitmix64's finalizer.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Gen makes YSB events. Build one with New; it is immutable and safe for
// concurrent use.
type Gen struct {
	// eventKey starts the splitmix64 sequence whose i-th value draws
	// event i's fields.
	eventKey  uint64
	campaigns [Campaigns]string // campaign n's UUID
	ads       [Ads]string       // ad k's UUID; it belongs to campaign k / AdsPerCampaign
	// An event is head[user] page[page] ad[ad] types[adType][eventType]
	// then its time's digits and tail: its fixed text cut at the drawn
	// values and glued to them, made once so that an event costs five
	// copies and a number.
	head  [Users]string
	page  [Pages]string
	ad    [Ads]string
	types [len(AdTypes)][len(EventTypes)]string
	// maxLen bounds an event's length in bytes.
	maxLen int
}

const tail = `", "ip_address": "` + IPAddress + `"}`

// New returns the generator of seed's events.
func New(seed uint64) *Gen {
	g := &Gen{eventKey: mix(seed ^ domainEvent*golden)}
	for n := range g.campaigns {
		g.campaigns[n] = uuid(seed, domainCampaign, n)
	}
	for k := range g.ads {
		g.ads[k] = uuid(seed, domainAd, k)
		g.ad[k] = g.ads[k] + `", "ad_type": "`
	}
	for u := range g.head {
		g.head[u] = `{"user_id": "` + uuid(seed, domainUser, u) + `", "page_id": "`
	}
	for p := range g.page {
		g.page[p] = uuid(seed, domainPage, p) + `", "ad_id": "`
	}
	longest := 0
	for a, at := range AdTypes {
		for e, et := range EventTypes {
			g.types[a][e] = at + `", "event_type": "` + et + `", "event_time": "`
			longest = max(longest, len(g.types[a][e]))
		}
	}
	g.maxLen = len(g.head[0]) + len(g.page[0]) + len(g.ad[0]) + longest + len("-9223372036854775808") + len(tail)
	return g
}

// uuid returns the n-th random (version 4) UUID of a domain of seed.
func uuid(seed, domain uint64, n int) string {
	s := mix(seed^domain*golden) ^ uint64(n)
	var b [16]byte
	for i := range 2 {
		s += golden
		x := mix(s)
		for j := range 8 {
			b[8*i+j] = byte(x >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// Generator returns New(seed) as a sluice.Generator.
func Generator(seed uint64) sluice.Generator[string] { return New(seed) }

// CampaignID returns campaign n's UUID, n in [0, Campaigns).
func (g *Gen) CampaignID(n int) string { return g.campaigns[n] }

// AdID returns ad k's UUID, k in [0, Ads).
func (g *Gen) AdID(k int) string { return g.ads[k] }

// Campaigns returns the static table the benchmark joins events with: ad
// id → campaign number (see CampaignID). It is a new map each call.
func (g *Gen) Campaigns() map[string]int {
	m := make(map[string]int, Ads)
	for k, id := range g.ads {
		m[id] = k / AdsPerCampaign
	}
	return m
}

// Records returns events [from, to), their times spread evenly over
// [start, end): event from+k happens at start + ⌊k·(end−start)/(to−from)⌋,
// written in whole milliseconds (rounded down), as sluice.Generator asks.
// It panics if to < from or end < start.
func (g *Gen) Records(from, to int64, start, end time.Time) []string {
	tl := newTimeline(from, to, start, end)
	out := make([]string, tl.n)
	// Events are substrings of a few strings, each holding chunk events:
	// a builder grown once never copies in String, and what it returned
	// earlier stays valid as it goes on. Chunks of a few hundred
	// kilobytes rather than one string of all: large batches then reuse
	// the memory the collector freed rather than ask for more.
	const chunk = 1024
	var b strings.Builder
	for k := range out {
		if k%chunk == 0 {
			b = strings.Builder{}
			b.Grow(min(len(out)-k, chunk) * g.maxLen)
		}
		at := b.Len()
		head, page, ad, types := g.pieces(from + int64(k))
		b.WriteString(head)
		b.WriteString(page)
		b.WriteString(ad)
		b.WriteString(types)
		b.Write(tl.next())
		b.WriteString(tail)
		out[k] = b.String()[at:]
	}
	return out
}

// Each calls f with each of the events Records(from, to, start, end)
// returns, in order, made in one buffer that f must not keep: the way to
// read them without allocating.
func (g *Gen) Each(from, to int64, start, end time.Time, f func(event []byte)) {
	tl := newTimeline(from, to, start, end)
	buf := make([]byte, 0, g.maxLen)
	for k := range int64(tl.n) {
		head, page, ad, types := g.pieces(from + k)
		buf = append(append(append(append(buf[:0], head...), page...), ad...), types...)
		f(append(append(buf, tl.next()...), tail...))
	}
}

// timeline gives the times of n events spread over [start, end): event
// k's offset ⌊k·span/n⌋ = step·k + ⌊rem·k/n⌋ goes up by step, and by one
// more whenever the remainders add up past n: no division per event.
type timeline struct {
	n, step, rem uint64
	t0           int64  // start, Unix nanoseconds
	q, carry     uint64 // the next event's offset and remainder
	ms           int64  // a time, in Unix milliseconds, and its digits
	digits       []byte
}

func newTimeline(from, to int64, start, end time.Time) timeline {
	if to < from || end.Before(start) {
		panic(fmt.Sprintf("ysb: bad range [%d, %d) over [%v, %v)", from, to, start, end))
	}
	tl := timeline{n: uint64(to - from), t0: start.UnixNano()}
	if tl.n > 0 {
		span := uint64(end.UnixNano() - tl.t0)
		tl.step, tl.rem = span/tl.n, span%tl.n
	}
	tl.ms = unixMilli(tl.t0)
	tl.digits = strconv.AppendInt(make([]byte, 0, 20), tl.ms, 10)
	return tl
}

// next returns the digits of the next event's time, in Unix
// milliseconds. They change once a millisecond.
func (tl *timeline) next() []byte {
	if ms := unixMilli(tl.t0 + int64(tl.q)); ms != tl.ms {
		tl.ms, tl.digits = ms, strconv.AppendInt(tl.digits[:0], ms, 10)
	}
	tl.q += tl.step
	if tl.carry += tl.rem; tl.carry >= tl.n {
		tl.q, tl.carry = tl.q+1, tl.carry-tl.n
	}
	return tl.digits
}

// unixMilli returns Unix nanoseconds ns in milliseconds, rounded down.
func unixMilli(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// Event returns event i (i ≥ 0) with time ms (Unix milliseconds).
func (g *Gen) Event(i, ms int64) string {
	head, page, ad, types := g.pieces(i)
	return head + page + ad + types + strconv.FormatInt(ms, 10) + tail
}

// pieces returns event i's text before its time, in four pieces.
func (g *Gen) pieces(i int64) (head, page, ad, types string) {
	if i < 0 {
		panic(fmt.Sprintf("ysb: negative event number %d", i))
	}
	// One splitmix64 value draws all five fields: each draw takes the
	// high word of x·n and leaves the low word, the rest of the
	// fraction, for the next (100·100·1000·5·3 < 2^28 of the 2^64).
	x := mix(g.eventKey + uint64(i)*golden)
	var u, p, a, at, et uint64
	u, x = bits.Mul64(x, Users)
	p, x = bits.Mul64(x, Pages)
	a, x = bits.Mul64(x, Ads)
	at, x = bits.Mul64(x, uint64(len(AdTypes)))
	et, _ = bits.Mul64(x, uint64(len(EventTypes)))
	return g.head[u], g.page[p], g.ad[a], g.types[at][et]
}
