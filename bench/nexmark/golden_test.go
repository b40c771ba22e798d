package nexmark

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
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

// TestPow10 checks pow10 against math.Pow over its range.
func TestPow10(t *testing.T) {
	r := newRNG(1, 99, 0)
	ys := []float64{0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 5.5, 6, 1e-300, 0.4999999999999999, 0.5000000000000001, math.Nextafter(6, 0)}
	n := 2_000_000
	if testing.Short() {
		n = 100_000
	}
	for range n {
		ys = append(ys, r.float()*6)
	}
	for _, y := range ys {
		if got, want := pow10(y), math.Pow(10, y); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("pow10(%v) = %v, math.Pow gives %v", y, got, want)
		}
	}
}

// TestAppendExtra checks appendExtra's letters against the plain
// definition: each draw's base-26 digits, the lowest first.
func TestAppendExtra(t *testing.T) {
	for avg := range 200 {
		r, ref := newRNG(2, 99, int64(avg)), newRNG(2, 99, int64(avg))
		got := appendExtra([]byte("x"), &r, 3, avg)
		// The same draws: the length first, then 13 letters a draw.
		want := []byte("x")
		if size := 3; size <= avg {
			n := avg - size
			delta := int(math.Round(float64(n) * 0.2))
			n -= delta
			if delta > 0 {
				n += ref.intn(2 * delta)
			}
			for n > 0 {
				v := ref.next()
				for k := 0; k < 13 && n > 0; k, n = k+1, n-1 {
					want = append(want, byte('a'+v%26))
					v /= 26
				}
			}
		}
		if string(got) != string(want) {
			t.Fatalf("avg %d: %q, want %q", avg, got, want)
		}
	}
}
