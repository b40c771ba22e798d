package gen

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
)

// Event kinds.
const (
	KindView  = "view"
	KindClick = "click"
)

// Limits on the Ads configuration.
const (
	MaxUsers       = 1 << 24
	MaxCampaigns   = 1 << 20
	MaxAdvertisers = 1 << 20
)

// ID formats: a prefix and a zero-padded decimal index, so that IDs sort in
// index order.
const (
	userPrefix, userWidth             = "user-", 6
	campaignPrefix, campaignWidth     = "camp-", 4
	advertiserPrefix, advertiserWidth = "adv-", 4
)

// AdEvent is one ad impression ("view") or click, the input of the demo job
// and of the Yahoo streaming benchmark.
type AdEvent struct {
	Time       int64  // event time, unix nanoseconds
	User       string // "user-000042"
	IP         string // dotted quad, fixed per user
	Campaign   string // "camp-0007"
	Advertiser string // "adv-0007", the campaign's advertiser
	Kind       string // KindView or KindClick
	CostMicros int64  // what the advertiser pays, in millionths of a dollar
}

// Ads generates ad events: event i is a pure function of the configuration
// and i (its time is supplied by the caller). Users and campaigns are drawn
// uniformly; an event is a click with probability ClickRatio, or
// BotClickRatio if its user is a bot.
//
// Bots model click fraud: a user is a bot when a hash of (Seed, user) is
// divisible by FraudUsers, so about one user in FraudUsers is a bot, Bots
// lists them, and a fraud detector can find them by their click rate.
//
// Costs: a click costs ClickCostMicros (a cost-per-click price) and a view
// costs ViewCostMicros (a CPM price divided by 1000), both fixed, so a
// campaign's bill is clicks·ClickCostMicros + views·ViewCostMicros.
type Ads struct {
	Seed        uint64
	Users       int // number of distinct users, in [1, MaxUsers]
	Campaigns   int // number of campaigns, in [1, MaxCampaigns]
	Advertisers int // campaign c belongs to advertiser c mod Advertisers
	// ClickRatio is the probability that an ordinary user's event is a click.
	ClickRatio float64
	// FraudUsers makes about one user in FraudUsers a bot; 0 means no bots.
	FraudUsers int
	// BotClickRatio is the probability that a bot's event is a click.
	BotClickRatio   float64
	ClickCostMicros int64 // price of a click, > 0
	ViewCostMicros  int64 // price of a view, >= 0
}

// DefaultAds returns the demo configuration: 10,000 users, 100 campaigns,
// 20 advertisers, 10% clicks, about one bot per 1,000 users clicking 90% of
// the time, $0.50 per click and $2 CPM ($0.002 per view).
func DefaultAds(seed uint64) Ads {
	return Ads{
		Seed:            seed,
		Users:           10_000,
		Campaigns:       100,
		Advertisers:     20,
		ClickRatio:      0.10,
		FraudUsers:      1_000,
		BotClickRatio:   0.90,
		ClickCostMicros: 500_000,
		ViewCostMicros:  2_000,
	}
}

// Validate reports whether the configuration is usable. Event, AppendRange,
// Bots and CampaignTable panic on an invalid configuration.
func (a Ads) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("gen: ads: "+format, args...))
		}
	}
	check(a.Users >= 1 && a.Users <= MaxUsers, "Users %d not in [1, %d]", a.Users, MaxUsers)
	check(a.Campaigns >= 1 && a.Campaigns <= MaxCampaigns,
		"Campaigns %d not in [1, %d]", a.Campaigns, MaxCampaigns)
	check(a.Advertisers >= 1 && a.Advertisers <= MaxAdvertisers,
		"Advertisers %d not in [1, %d]", a.Advertisers, MaxAdvertisers)
	check(a.ClickRatio >= 0 && a.ClickRatio <= 1, "ClickRatio %v not in [0, 1]", a.ClickRatio)
	check(a.BotClickRatio >= 0 && a.BotClickRatio <= 1,
		"BotClickRatio %v not in [0, 1]", a.BotClickRatio)
	check(a.FraudUsers >= 0, "FraudUsers %d is negative", a.FraudUsers)
	check(a.ClickCostMicros > 0, "ClickCostMicros %d not positive", a.ClickCostMicros)
	check(a.ViewCostMicros >= 0, "ViewCostMicros %d is negative", a.ViewCostMicros)
	return errors.Join(errs...)
}

// valid is Validate without the messages, cheap enough for every event.
// TestValidAgreesWithValidate keeps the two in step.
func (a Ads) valid() bool {
	return a.Users >= 1 && a.Users <= MaxUsers &&
		a.Campaigns >= 1 && a.Campaigns <= MaxCampaigns &&
		a.Advertisers >= 1 && a.Advertisers <= MaxAdvertisers &&
		a.ClickRatio >= 0 && a.ClickRatio <= 1 &&
		a.BotClickRatio >= 0 && a.BotClickRatio <= 1 &&
		a.FraudUsers >= 0 && a.ClickCostMicros > 0 && a.ViewCostMicros >= 0
}

func (a Ads) mustValid() {
	if !a.valid() {
		panic(a.Validate())
	}
}

// Event returns event i, stamped with time t. It makes one allocation,
// shared by the event's strings.
func (a Ads) Event(i int64, t int64) AdEvent {
	a.mustValid()
	r := newRNG(a.Seed, domainAds, i)
	user := pick(r.next(), a.Users)
	campaign := pick(r.next(), a.Campaigns)
	clickRatio := a.ClickRatio
	if a.isBot(user) {
		clickRatio = a.BotClickRatio
	}
	e := AdEvent{Time: t, Kind: KindView, CostMicros: a.ViewCostMicros}
	if below(r.next(), threshold(clickRatio)) {
		e.Kind, e.CostMicros = KindClick, a.ClickCostMicros
	}
	a.fillIDs(&e, user, campaign)
	return e
}

// fillIDs formats the event's four IDs into one buffer and converts it to
// a single string, so an event costs one allocation instead of four.
func (a Ads) fillIDs(e *AdEvent, user, campaign int) {
	var arr [64]byte
	b := appendID(arr[:0], userPrefix, user, userWidth)
	u := len(b)
	b = a.appendIP(b, user)
	ip := len(b)
	b = appendID(b, campaignPrefix, campaign, campaignWidth)
	c := len(b)
	b = appendID(b, advertiserPrefix, campaign%a.Advertisers, advertiserWidth)
	s := string(b)
	e.User, e.IP, e.Campaign, e.Advertiser = s[:u], s[u:ip], s[ip:c], s[c:]
}

// AppendRange appends events from..to-1 to dst, with times spread evenly
// over [t0, t1): event from+k has time t0 + ⌊k·(t1-t0)/(to-from)⌋. It panics
// if to < from, to-from > MaxRange or t1 < t0.
func (a Ads) AppendRange(dst []AdEvent, from, to int64, t0, t1 int64) []AdEvent {
	n := checkRange(from, to)
	if t1 < t0 {
		panic(fmt.Sprintf("gen: bad time range [%d, %d)", t0, t1))
	}
	dst = slices.Grow(dst, n)
	span := uint64(t1) - uint64(t0)
	for k := range uint64(n) {
		hi, lo := bits.Mul64(k, span)
		q, _ := bits.Div64(hi, lo, uint64(n)) // hi < n since k < n: no overflow
		dst = append(dst, a.Event(from+int64(k), int64(uint64(t0)+q)))
	}
	return dst
}

// isBot reports whether user index u is a bot.
func (a Ads) isBot(u int) bool {
	return a.FraudUsers > 0 && hash2(a.Seed, domainBot, uint64(u))%uint64(a.FraudUsers) == 0
}

// Bots returns the bot users, sorted.
func (a Ads) Bots() []string {
	a.mustValid()
	var bots []string
	for u := range a.Users {
		if a.isBot(u) {
			bots = append(bots, userID(u))
		}
	}
	slices.Sort(bots) // already in order while IDs have equal width
	return bots
}

// Campaign is a row of the static campaign table the demo joins against.
type Campaign struct {
	ID, Advertiser string
	BudgetMicros   int64 // total budget, $100 to $10,000 in whole dollars
}

// CampaignTable returns every campaign in ID order.
func (a Ads) CampaignTable() []Campaign {
	a.mustValid()
	table := make([]Campaign, a.Campaigns)
	for c := range table {
		dollars := 100 + int64(hash2(a.Seed, domainCamp, uint64(c))%9_901)
		table[c] = Campaign{
			ID:           string(appendID(nil, campaignPrefix, c, campaignWidth)),
			Advertiser:   string(appendID(nil, advertiserPrefix, c%a.Advertisers, advertiserWidth)),
			BudgetMicros: dollars * 1_000_000,
		}
	}
	return table
}

// AdvertiserOf returns the advertiser of a campaign ID, or "" if the ID is
// not one of this configuration's campaigns.
func (a Ads) AdvertiserOf(campaign string) string {
	c, ok := parseID(campaign, campaignPrefix, campaignWidth)
	if !ok || c >= a.Campaigns || a.Advertisers < 1 {
		return ""
	}
	return string(appendID(nil, advertiserPrefix, c%a.Advertisers, advertiserWidth))
}

// appendIP appends the user's IP address, a hash of (Seed, user): first
// octet 1..223 (unicast), last octet 1..254.
func (a Ads) appendIP(b []byte, user int) []byte {
	h := hash2(a.Seed, domainIP, uint64(user))
	b = strconv.AppendUint(b, 1+h%223, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, h>>16&0xff, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, h>>24&0xff, 10)
	b = append(b, '.')
	return strconv.AppendUint(b, 1+(h>>32)%254, 10)
}

func userID(u int) string { return string(appendID(nil, userPrefix, u, userWidth)) }

// appendID appends prefix and n in decimal, zero-padded to width digits.
func appendID(b []byte, prefix string, n, width int) []byte {
	b = append(b, prefix...)
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], uint64(n), 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// parseID is the inverse of appendID: it accepts only the canonical form.
func parseID(id, prefix string, width int) (int, bool) {
	if len(id) < len(prefix)+width || id[:len(prefix)] != prefix {
		return 0, false
	}
	n, err := strconv.ParseUint(id[len(prefix):], 10, 31)
	if err != nil || string(appendID(nil, prefix, int(n), width)) != id {
		return 0, false
	}
	return int(n), true
}
