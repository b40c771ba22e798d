package ysb

import (
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// event is an event as encoding/json reads it.
type event struct {
	UserID    string `json:"user_id"`
	PageID    string `json:"page_id"`
	AdID      string `json:"ad_id"`
	AdType    string `json:"ad_type"`
	EventType string `json:"event_type"`
	EventTime string `json:"event_time"`
	IPAddress string `json:"ip_address"`
}

func TestEventsAreTheBenchmarks(t *testing.T) {
	g := New(1)
	const n = 30_000
	// One event a millisecond, from t0.
	evs := g.Records(0, n, t0, t0.Add(n*time.Millisecond))
	campaigns := g.Campaigns()
	if len(campaigns) != Ads {
		t.Fatalf("%d ads in the campaign table, want %d", len(campaigns), Ads)
	}
	types, ads := map[string]int{}, map[string]int{}
	users, pages, perCampaign := map[string]bool{}, map[string]bool{}, map[int]map[string]bool{}
	for i, s := range evs {
		var e event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Fatalf("event %d %s: %v", i, s, err)
		}
		if want := strconv.FormatInt(t0.Add(time.Duration(i)*time.Millisecond).UnixMilli(), 10); e.EventTime != want {
			t.Fatalf("event %d: event_time %s, want %s", i, e.EventTime, want)
		}
		c, ok := campaigns[e.AdID]
		if !ok {
			t.Fatalf("event %d: ad %s is in no campaign", i, e.AdID)
		}
		if perCampaign[c] == nil {
			perCampaign[c] = map[string]bool{}
		}
		perCampaign[c][e.AdID] = true
		if !slices.Contains(AdTypes[:], e.AdType) || e.IPAddress != IPAddress || len(e.UserID) != 36 || len(e.PageID) != 36 {
			t.Fatalf("event %d: %+v", i, e)
		}
		types[e.EventType]++
		ads[e.AdID]++
		users[e.UserID], pages[e.PageID] = true, true
	}
	for _, et := range EventTypes {
		if k := types[et]; k < n/3-600 || k > n/3+600 {
			t.Errorf("%d %s events of %d, want about a third", k, et, n)
		}
	}
	if len(types) != len(EventTypes) || len(ads) != Ads || len(users) != Users || len(pages) != Pages || len(perCampaign) != Campaigns {
		t.Errorf("%d event types, %d ads, %d users, %d pages, %d campaigns", len(types), len(ads), len(users), len(pages), len(perCampaign))
	}
	for c, as := range perCampaign {
		if len(as) != AdsPerCampaign {
			t.Errorf("campaign %d has %d ads", c, len(as))
		}
	}
}

func TestDeterministic(t *testing.T) {
	const n = 5000
	end := t0.Add(n * time.Millisecond)
	all := New(7).Records(0, n, t0, end)
	if again := New(7).Records(0, n, t0, end); !slices.Equal(all, again) {
		t.Fatal("another generator with the same seed gave different events")
	}
	// Split at arbitrary points, each piece with its share of the time.
	var split []string
	cuts := []int64{0, 1, 17, 50, 51, 1234, 4999, n}
	for k := 1; k < len(cuts); k++ {
		a, b := cuts[k-1], cuts[k]
		split = append(split, New(7).Records(a, b, t0.Add(time.Duration(a)*time.Millisecond), t0.Add(time.Duration(b)*time.Millisecond))...)
	}
	if !slices.Equal(all, split) {
		t.Fatal("split ranges gave different events")
	}
	var each []string
	New(7).Each(0, n, t0, end, func(e []byte) { each = append(each, string(e)) })
	if !slices.Equal(all, each) {
		t.Fatal("Each and Records gave different events")
	}
	if seed8 := New(8).Records(0, n, t0, end); slices.Equal(all, seed8) {
		t.Fatal("seeds 7 and 8 gave the same events")
	}
	g := New(7)
	for i, s := range all {
		if e := g.Event(int64(i), t0.Add(time.Duration(i)*time.Millisecond).UnixMilli()); e != s {
			t.Fatalf("Event(%d) = %s, Records gave %s", i, e, s)
		}
	}
}

// TestTimes checks Records' event times against the formula, on ranges
// whose times are not whole milliseconds apart.
func TestTimes(t *testing.T) {
	g := New(3)
	var x Extractor
	for _, c := range []struct {
		n     int64
		start time.Time
		span  time.Duration
	}{
		{7, t0, 1000},
		{1000, t0.Add(123456789), time.Second},
		{3, t0, 10 * time.Millisecond},
		{50_000, t0.Add(-time.Hour), 333_333_333},
		{10, time.Unix(0, -5_500_000), 7 * time.Millisecond}, // before the epoch
		{5, t0, 0},
	} {
		for k, s := range g.Records(100, 100+c.n, c.start, c.start.Add(c.span)) {
			hi, lo := bits.Mul64(uint64(k), uint64(c.span))
			q, _ := bits.Div64(hi, lo, uint64(c.n))
			want := c.start.Add(time.Duration(q)).UnixMilli()
			if got := eventTime(t, &x, s); got != want {
				t.Fatalf("%d events over %v from %v: event %d at %d ms, want %d", c.n, c.span, c.start, k, got, want)
			}
		}
	}
	if evs := g.Records(5, 5, t0, t0); len(evs) != 0 {
		t.Fatalf("an empty range gave %d events", len(evs))
	}
}

// eventTime returns the event time of an event of any type.
func eventTime(t *testing.T, x *Extractor, s string) int64 {
	t.Helper()
	v, err := x.p.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := parseMillis(v.GetStringBytes("event_time"))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestUUIDs(t *testing.T) {
	g := New(1)
	seen := map[string]bool{}
	for _, id := range append(append([]string(nil), g.ads[:]...), g.campaigns[:]...) {
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '4' || id[18] != '-' || id[23] != '-' || seen[id] {
			t.Fatalf("bad or repeated UUID %q", id)
		}
		seen[id] = true
	}
	if New(2).AdID(0) == g.AdID(0) {
		t.Fatal("seeds 1 and 2 have the same first ad")
	}
}

func BenchmarkRecords(b *testing.B) {
	g := New(1)
	const n = 10_000
	b.SetBytes(int64(len(g.Event(0, t0.UnixMilli()))))
	for i := 0; i < b.N; i += n {
		g.Records(int64(i), int64(i+n), t0, t0.Add(time.Second))
	}
}

func BenchmarkExtract(b *testing.B) {
	evs := New(1).Records(0, 10_000, t0, t0.Add(time.Second))
	b.SetBytes(int64(len(evs[0])))
	var x Extractor
	b.ReportAllocs()
	for i := range b.N {
		if _, _, _, err := x.Extract(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
}
