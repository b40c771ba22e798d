package nexmark

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"testing"
	"time"
)

// TestGolden pins the generator's output: a hash of every field of the
// first events of a few configurations, so that work on the generator's
// speed cannot change what it makes.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		cfg      Config
		from, to int64
		want     string
	}{
		{Config{Seed: 1, Rate: 1_000_000}, 0, 300_000, "81b5e5df787da65ee2c6dd94de7cb1fea877c76d580a9603cb882b3b48f4c021"},
		{Config{Seed: 7, Rate: 10_000}, 0, 100_000, "d67e714a1f76c2d0b16207bd8df3d2a26fdb81132ec5aa81f63e82de50fe4508"},
		{Config{Seed: 2, Rate: 2_000_000}, 5_000_000_017, 5_000_100_000, "571368db9e49444c46de2dcb596137725279825497d2be475dd85db027b70b7c"},
		{Config{Seed: 3, Rate: 50_000, PersonProportion: 2, AuctionProportion: 5, BidProportion: 13, AvgBidBytes: 300}, 0, 50_000,
			"50006c065bd3c08be9c6cea90125eec32eb16cc65f03f38c819c085c2ed7af39"},
	} {
		g := Generator(c.cfg)
		h := sha256.New()
		// In uneven pieces, with times spread over each piece's share.
		const step = 7919
		for from := c.from; from < c.to; from += step {
			to := min(from+step, c.to)
			for _, e := range g.Records(from, to, t0.Add(time.Duration(from)*time.Microsecond), t0.Add(time.Duration(to)*time.Microsecond)) {
				hashEvent(h, e)
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.want {
			t.Errorf("%+v: hash of events [%d, %d) %s, want %s", c.cfg, c.from, c.to, got, c.want)
		}
	}
}

func hashEvent(h hash.Hash, e Event) {
	var b []byte
	ints := func(vs ...int64) {
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	strs := func(ss ...string) {
		for _, s := range ss {
			b = append(binary.LittleEndian.AppendUint32(b, uint32(len(s))), s...)
		}
	}
	b = append(b, byte(e.Kind))
	switch e.Kind {
	case KindPerson:
		p := e.Person
		ints(p.ID, p.DateTime)
		strs(p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, p.Extra)
	case KindAuction:
		a := e.Auction
		ints(a.ID, a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category)
		strs(a.ItemName, a.Description, a.Extra)
	case KindBid:
		x := e.Bid
		ints(x.Auction, x.Bidder, x.Price, x.DateTime)
		strs(x.Channel, x.URL, x.Extra)
	}
	h.Write(b)
}
