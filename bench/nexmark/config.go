package nexmark

import "fmt"

// The Nexmark specification's constants (Beam's and Flink's
// GeneratorConfig, AuctionGenerator, BidGenerator and PersonGenerator).
const (
	// FirstPersonID and FirstAuctionID start the id spaces away from 0 so
	// that the queries find matches even on a few events.
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	// Categories is the number of auction categories.
	Categories = 5

	// personIDLead and auctionIDLead are how many ids beyond the last
	// one generated a bid or an auction may refer to, so that some
	// references arrive before what they refer to.
	personIDLead  = 10
	auctionIDLead = 10
	// hotGroup: the hot auction, bidder or seller is the first (the
	// second for bidders) of the last group of this many ids.
	hotGroup = 100

	// Bid channels: half the bids come from one of the hot channels,
	// the rest from one of coldChannels "channel-N".
	hotChannelsRatio = 2
	coldChannels     = 10_000
)

var hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}

// Config configures a generator. Zero fields take Beam's defaults.
type Config struct {
	Seed uint64
	// Rate is the stream's rate in events/s (Nexmark's firstEventRate,
	// default 10,000). It sets auction lengths: an auction lasts on
	// average as long as it takes NumInFlightAuctions more auctions to
	// arrive. Pass the same rate to sluice.Generate.
	Rate int
	// Proportions of the event kinds, by event number: of every
	// Person+Auction+Bid events the first Person are people, the next
	// Auction auctions, the rest bids (default 1:3:46).
	PersonProportion, AuctionProportion, BidProportion int
	// NumActivePeople is how many of the latest people may sell or bid
	// (default 1000); NumInFlightAuctions how many of the latest
	// auctions may receive bids (default 100).
	NumActivePeople, NumInFlightAuctions int
	// One bid in HotAuctionRatio (default 2) is on a random in-flight
	// auction, the others on the hot one; one auction in HotSellersRatio
	// (4) is by a random active person, the others by the hot seller; one
	// bid in HotBiddersRatio (4) is by a random active person, the others
	// by the hot bidder.
	HotAuctionRatio, HotSellersRatio, HotBiddersRatio int
	// Average sizes in bytes of the events, reached by padding Extra
	// (defaults 200, 500 and 100).
	AvgPersonBytes, AvgAuctionBytes, AvgBidBytes int
}

// Limits on the configuration, so that no product of its values
// overflows.
const (
	maxRate       = 1 << 40
	maxProportion = 1 << 20
	maxCount      = 1 << 30
	maxBytes      = 1 << 20
)

// withDefaults returns c with Beam's defaults for its zero fields, or an
// error if a field is out of range.
func (c Config) withDefaults() (Config, error) {
	def := func(p *int, v, limit int, name string) error {
		if *p == 0 {
			*p = v
		}
		if *p < 1 || *p > limit {
			return fmt.Errorf("nexmark: %s %d is not in [1, %d]", name, *p, limit)
		}
		return nil
	}
	for _, f := range []struct {
		p        *int
		v, limit int
		name     string
	}{
		{&c.Rate, 10_000, maxRate, "Rate"},
		{&c.PersonProportion, 1, maxProportion, "PersonProportion"},
		{&c.AuctionProportion, 3, maxProportion, "AuctionProportion"},
		{&c.BidProportion, 46, maxProportion, "BidProportion"},
		{&c.NumActivePeople, 1000, maxCount, "NumActivePeople"},
		{&c.NumInFlightAuctions, 100, maxCount, "NumInFlightAuctions"},
		{&c.HotAuctionRatio, 2, maxCount, "HotAuctionRatio"},
		{&c.HotSellersRatio, 4, maxCount, "HotSellersRatio"},
		{&c.HotBiddersRatio, 4, maxCount, "HotBiddersRatio"},
		{&c.AvgPersonBytes, 200, maxBytes, "AvgPersonBytes"},
		{&c.AvgAuctionBytes, 500, maxBytes, "AvgAuctionBytes"},
		{&c.AvgBidBytes, 100, maxBytes, "AvgBidBytes"},
	} {
		if err := def(f.p, f.v, f.limit, f.name); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *Config) total() int64 {
	return int64(c.PersonProportion + c.AuctionProportion + c.BidProportion)
}

// pos is an event's place in the repeating cycle of kinds: event
// epoch·total + off. Records steps it from event to event, which spares
// two divisions per event.
type pos struct{ epoch, off int64 }

// pos returns event i's place.
func (c *Config) pos(i int64) pos { return pos{i / c.total(), i % c.total()} }

// next returns the place of the event after the one at p.
func (c *Config) next(p pos) pos {
	if p.off++; p.off == c.total() {
		p.epoch, p.off = p.epoch+1, 0
	}
	return p
}

// kind returns the kind of the event at p.
func (c *Config) kind(p pos) Kind {
	switch {
	case p.off < int64(c.PersonProportion):
		return KindPerson
	case p.off < int64(c.PersonProportion+c.AuctionProportion):
		return KindAuction
	}
	return KindBid
}

// lastPerson returns the base-0 id of the last person generated up to
// the event at p (its own if it is a person; -1 before the first).
func (c *Config) lastPerson(p pos) int64 {
	return p.epoch*int64(c.PersonProportion) + min(p.off, int64(c.PersonProportion)-1)
}

// lastAuction returns the base-0 id of the last auction generated up to
// the event at p (its own if it is an auction; -1 before the first).
func (c *Config) lastAuction(at pos) int64 {
	p, a := int64(c.PersonProportion), int64(c.AuctionProportion)
	switch {
	case at.off < p: // the last auction of the previous epoch
		return at.epoch*a - 1
	case at.off >= p+a:
		return at.epoch*a + a - 1
	}
	return at.epoch*a + at.off - p
}

// activePeople returns the range [lo, hi) of base-0 person ids the event
// at p may refer to at random: the active people and the lead.
func (c *Config) activePeople(p pos) (lo, hi int64) {
	n := c.lastPerson(p) + 1
	lo = n - min(n, int64(c.NumActivePeople))
	return lo, n + personIDLead
}

// inFlightAuctions returns the range [lo, hi) of base-0 auction ids a
// bid at p may refer to at random.
func (c *Config) inFlightAuctions(p pos) (lo, hi int64) {
	last := c.lastAuction(p)
	return max(last-int64(c.NumInFlightAuctions), 0), last + 1 + auctionIDLead
}

// auctionHorizon returns the average length of an auction in
// milliseconds: the time NumInFlightAuctions more auctions take to arrive.
func (c *Config) auctionHorizon() int64 {
	events := int64(c.NumInFlightAuctions) * c.total() / int64(c.AuctionProportion)
	return events * 1000 / int64(c.Rate)
}
