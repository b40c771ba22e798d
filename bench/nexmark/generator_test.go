package nexmark

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// events returns events [0, n) at 1ms apart from t0.
func events(t *testing.T, cfg Config, n int64) []Event {
	t.Helper()
	return Generator(cfg).Records(0, n, t0, t0.Add(time.Duration(n)*time.Millisecond))
}

func TestMix(t *testing.T) {
	evs := events(t, Config{Seed: 1}, 50_000)
	count := map[Kind]int{}
	var people, auctions int64
	for i, e := range evs {
		count[e.Kind]++
		switch e.Kind {
		case KindPerson:
			if e.Person == nil || e.Auction != nil || e.Bid != nil || e.Person.ID != FirstPersonID+people {
				t.Fatalf("event %d: %+v, want person %d", i, e, FirstPersonID+people)
			}
			people++
		case KindAuction:
			if e.Auction == nil || e.Person != nil || e.Bid != nil || e.Auction.ID != FirstAuctionID+auctions {
				t.Fatalf("event %d: %+v, want auction %d", i, e, FirstAuctionID+auctions)
			}
			auctions++
		case KindBid:
			if e.Bid == nil || e.Person != nil || e.Auction != nil {
				t.Fatalf("event %d: %+v, want a bid", i, e)
			}
		}
		// By event number: 1 person, 3 auctions, 46 bids in every 50.
		want := KindBid
		if r := i % 50; r == 0 {
			want = KindPerson
		} else if r < 4 {
			want = KindAuction
		}
		if e.Kind != want {
			t.Fatalf("event %d is a %v, want a %v", i, e.Kind, want)
		}
	}
	if count[KindPerson] != 1000 || count[KindAuction] != 3000 || count[KindBid] != 46_000 {
		t.Fatalf("mix %v, want 1000:3000:46000", count)
	}
}

func TestDeterministic(t *testing.T) {
	g := Generator(Config{Seed: 7})
	const n = 5000
	end := t0.Add(n * time.Millisecond)
	all := g.Records(0, n, t0, end)
	if again := g.Records(0, n, t0, end); !reflect.DeepEqual(all, again) {
		t.Fatal("the same range gave different events")
	}
	if other := Generator(Config{Seed: 7}).Records(0, n, t0, end); !reflect.DeepEqual(all, other) {
		t.Fatal("another generator with the same config gave different events")
	}
	// Split at arbitrary points, each piece with its share of the time.
	var split []Event
	cuts := []int64{0, 1, 17, 50, 51, 1234, 4999, n}
	for k := 1; k < len(cuts); k++ {
		a, b := cuts[k-1], cuts[k]
		split = append(split, g.Records(a, b, t0.Add(time.Duration(a)*time.Millisecond), t0.Add(time.Duration(b)*time.Millisecond))...)
	}
	if !reflect.DeepEqual(all, split) {
		t.Fatal("split ranges gave different events")
	}
	if seed8 := Generator(Config{Seed: 8}).Records(0, n, t0, end); reflect.DeepEqual(all, seed8) {
		t.Fatal("seeds 7 and 8 gave the same events")
	}
}

// TestIDsInRange checks the references of bids and auctions against the
// people and auctions generated so far, as the spec bounds them: the
// active people or in-flight auctions, plus a lead of 10 ids not yet
// generated.
func TestIDsInRange(t *testing.T) {
	cfg := Config{Seed: 3}
	var people, auctions int64 // generated so far
	for i, e := range events(t, cfg, 200_000) {
		switch e.Kind {
		case KindPerson:
			people++
		case KindAuction:
			auctions++
			a := e.Auction
			checkPerson(t, i, "seller", a.Seller, people)
			if a.Category < FirstCategoryID || a.Category >= FirstCategoryID+Categories {
				t.Fatalf("event %d: category %d", i, a.Category)
			}
			if a.Reserve <= a.InitialBid || a.InitialBid < 100 || a.InitialBid > 100_000_000 {
				t.Fatalf("event %d: initial bid %d, reserve %d", i, a.InitialBid, a.Reserve)
			}
			if a.Expires <= a.DateTime {
				t.Fatalf("event %d: expires %d before %d", i, a.Expires, a.DateTime)
			}
		case KindBid:
			b := e.Bid
			checkPerson(t, i, "bidder", b.Bidder, people)
			id := b.Auction - FirstAuctionID
			if id < max(auctions-1-100, 0) || id >= auctions+auctionIDLead {
				t.Fatalf("event %d: bid on auction %d, %d generated so far", i, b.Auction, auctions)
			}
			if b.Price < 100 || b.Price > 100_000_000 || b.Channel == "" || b.URL == "" {
				t.Fatalf("event %d: bid %+v", i, b)
			}
		}
	}
}

func checkPerson(t *testing.T, i int, role string, id, people int64) {
	t.Helper()
	id -= FirstPersonID
	if id < max(people-1000, 0) || id >= people+personIDLead {
		t.Fatalf("event %d: %s %d, %d people generated so far", i, role, id+FirstPersonID, people)
	}
}

// TestHot checks the skew: about half the bids are on the hot auction,
// three quarters by the hot bidder, and three quarters of the auctions by
// the hot seller.
func TestHot(t *testing.T) {
	var bids, hotAuction, hotBidder, auctions, hotSeller int
	perAuction := map[int64]int{}
	for _, e := range events(t, Config{Seed: 5}, 100_000) {
		switch e.Kind {
		case KindBid:
			bids++
			perAuction[e.Bid.Auction]++
			if (e.Bid.Auction-FirstAuctionID)%hotGroup == 0 {
				hotAuction++
			}
			if (e.Bid.Bidder-FirstPersonID)%hotGroup == 1 {
				hotBidder++
			}
		case KindAuction:
			auctions++
			if (e.Auction.Seller-FirstPersonID)%hotGroup == 0 {
				hotSeller++
			}
		}
	}
	within := func(what string, got, n int, lo, hi float64) {
		if f := float64(got) / float64(n); f < lo || f > hi {
			t.Errorf("%s: %.3f, want in [%.2f, %.2f]", what, f, lo, hi)
		}
	}
	// The random picks land on a hot id now and then: a little above.
	within("bids on hot auctions", hotAuction, bids, 0.48, 0.56)
	within("bids by hot bidders", hotBidder, bids, 0.73, 0.78)
	within("auctions by hot sellers", hotSeller, auctions, 0.73, 0.78)
	// The hottest auction gets far more bids than an average one.
	most := 0
	for _, n := range perAuction {
		most = max(most, n)
	}
	if avg := bids / len(perAuction); most < 50*avg {
		t.Errorf("hottest auction has %d bids, average %d: no skew", most, avg)
	}
}

func TestTimes(t *testing.T) {
	g := Generator(Config{Seed: 2})
	end := t0.Add(time.Second)
	evs := g.Records(100, 1100, t0, end)
	for k, e := range evs {
		at := e.Time()
		if want := t0.Add(time.Duration(k) * time.Millisecond); !at.Equal(want) {
			t.Fatalf("event %d: time %v, want %v", 100+k, at, want)
		}
	}
	// Uneven spans: still monotone, within [start, end).
	evs = g.Records(0, 7, t0, t0.Add(10))
	for k, e := range evs {
		at := e.Time()
		if at.Before(t0) || !at.Before(t0.Add(10)) || (k > 0 && at.Before(evs[k-1].Time())) {
			t.Fatalf("event %d: time %v not in order in [t0, t0+10ns)", k, at)
		}
	}
	if evs := g.Records(5, 5, t0, t0); len(evs) != 0 {
		t.Fatalf("empty range gave %d events", len(evs))
	}
}

func TestSizes(t *testing.T) {
	cfg, _ := Config{}.withDefaults()
	var n, bytes [4]int
	for _, e := range events(t, Config{Seed: 9}, 50_000) {
		n[e.Kind]++
		switch e.Kind {
		case KindPerson:
			p := e.Person
			bytes[e.Kind] += 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra)
		case KindAuction:
			a := e.Auction
			bytes[e.Kind] += 8 + len(a.ItemName) + len(a.Description) + 5*8 + len(a.Extra)
		case KindBid:
			bytes[e.Kind] += 4*8 + len(e.Bid.Extra)
		}
	}
	for k, avg := range map[Kind]int{KindPerson: cfg.AvgPersonBytes, KindAuction: cfg.AvgAuctionBytes, KindBid: cfg.AvgBidBytes} {
		if got := bytes[k] / n[k]; got < avg*95/100 || got > avg*105/100 {
			t.Errorf("%v: average size %d, want about %d", k, got, avg)
		}
	}
}

// TestCodec checks that events survive Sluice's codec.
func TestCodec(t *testing.T) {
	evs := events(t, Config{Seed: 4}, 200)
	c := codec.For[Event]()
	got, err := c.Decode(c.Append(nil, evs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Fatal("events changed in a round trip through the codec")
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{HotAuctionRatio: -1}); err == nil {
		t.Fatal("negative ratio accepted")
	}
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c := g.Config(); c.Rate != 10_000 || c.HotAuctionRatio != 2 || c.HotSellersRatio != 4 || c.HotBiddersRatio != 4 ||
		c.NumActivePeople != 1000 || c.NumInFlightAuctions != 100 {
		t.Fatalf("defaults %+v", c)
	}
}

func BenchmarkGenerator(b *testing.B) {
	g := Generator(Config{Seed: 1})
	const n = 10_000
	b.ReportAllocs()
	var done int64
	for b.Loop() {
		_ = g.Records(done, done+n, t0, t0.Add(time.Second))
		done += n
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
}
