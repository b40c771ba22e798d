package gen

import (
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const t2023 = 1_700_000_000_000_000_000 // a unix time in nanoseconds

// TestAdsGolden pins events, bots and campaigns so that accidental changes
// fail.
func TestAdsGolden(t *testing.T) {
	a := DefaultAds(42)
	for i, want := range map[int64]AdEvent{
		0: {Time: t2023, User: "user-007735", IP: "95.82.182.226", Campaign: "camp-0075",
			Advertiser: "adv-0015", Kind: KindClick, CostMicros: 500_000},
		1: {Time: t2023, User: "user-003611", IP: "52.53.218.34", Campaign: "camp-0021",
			Advertiser: "adv-0001", Kind: KindView, CostMicros: 2_000},
		1_000_000_007: {Time: t2023, User: "user-003484", IP: "126.19.114.51", Campaign: "camp-0049",
			Advertiser: "adv-0009", Kind: KindView, CostMicros: 2_000},
	} {
		if got := a.Event(i, t2023); got != want {
			t.Errorf("event %d = %+v, want %+v", i, got, want)
		}
	}
	wantBots := "user-000715 user-000936 user-001558 user-002097 user-004780 user-004937 " +
		"user-005111 user-006559 user-006561 user-007134 user-007913 user-008204 user-009031"
	if got := strings.Join(a.Bots(), " "); got != wantBots {
		t.Errorf("Bots() = %s, want %s", got, wantBots)
	}
	wantCamps := []Campaign{{"camp-0000", "adv-0000", 8_031_000_000},
		{"camp-0001", "adv-0001", 7_887_000_000}, {"camp-0002", "adv-0002", 7_756_000_000}}
	if got := a.CampaignTable()[:3]; !slices.Equal(got, wantCamps) {
		t.Errorf("CampaignTable()[:3] = %v, want %v", got, wantCamps)
	}
}

// TestAdsAppendRangeSplits checks random access for events (the times depend
// on the range, so they are compared separately).
func TestAdsAppendRangeSplits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := DefaultAds(rapid.Uint64().Draw(t, "seed"))
		base := rapid.Int64Range(-1<<40, 1<<40).Draw(t, "base")
		n := rapid.IntRange(0, 200).Draw(t, "n")
		want := a.AppendRange(nil, base, base+int64(n), 0, 0)
		got := make([]AdEvent, n)
		for _, p := range shuffledPieces(t, n) {
			evs := a.AppendRange(nil, base+int64(p[0]), base+int64(p[1]), 0, 0)
			copy(got[p[0]:p[1]], evs)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pieces differ from the whole range")
		}
	})
}

// TestAdsTimes checks that AppendRange spreads times evenly over [t0, t1).
func TestAdsTimes(t *testing.T) {
	a := DefaultAds(1)
	evs := a.AppendRange(nil, 10, 20, 1000, 2000)
	for k, e := range evs {
		if want := int64(1000 + 100*k); e.Time != want {
			t.Errorf("event %d: time %d, want %d", k, e.Time, want)
		}
		if e2 := a.Event(int64(10+k), e.Time); e2 != e {
			t.Errorf("event %d: AppendRange %+v, Event %+v", k, e, e2)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		t0 := rapid.Int64().Draw(t, "t0")
		t1 := rapid.Int64Range(t0, math.MaxInt64).Draw(t, "t1")
		n := rapid.IntRange(1, 50).Draw(t, "n")
		evs := a.AppendRange(nil, 0, int64(n), t0, t1)
		if evs[0].Time != t0 {
			t.Fatalf("first time %d, want t0 = %d", evs[0].Time, t0)
		}
		for k, e := range evs {
			if e.Time < t0 || (e.Time >= t1 && t1 > t0) || (k > 0 && e.Time < evs[k-1].Time) {
				t.Fatalf("time %d of event %d not in order within [%d, %d)", e.Time, k, t0, t1)
			}
		}
	})
	mustPanic(t, func() { a.AppendRange(nil, 0, 1, 2, 1) })
	mustPanic(t, func() { a.AppendRange(nil, 1, 0, 1, 2) })
}

// TestAdsDistributions checks the click ratio, that bots click far more than
// ordinary users, and the consistency of every field.
func TestAdsDistributions(t *testing.T) {
	a := DefaultAds(3)
	const n = 1_000_000
	isBot := make(map[string]bool)
	for _, b := range a.Bots() {
		isBot[b] = true
	}
	ipOf := make(map[string]string)
	var events, clicks, botEvents, botClicks int
	for _, e := range a.AppendRange(nil, 0, n, 0, 1) {
		checkEvent(t, a, e, ipOf)
		click := e.Kind == KindClick
		if isBot[e.User] {
			botEvents, botClicks = botEvents+1, botClicks+b2i(click)
		} else {
			events, clicks = events+1, clicks+b2i(click)
		}
	}
	ratio := float64(clicks) / float64(events)
	if math.Abs(ratio-a.ClickRatio) > 0.003 {
		t.Errorf("click ratio of ordinary users %.4f, want %.2f ± 0.003", ratio, a.ClickRatio)
	}
	perBot := float64(botClicks) / float64(len(isBot))
	perUser := float64(clicks) / float64(a.Users-len(isBot))
	t.Logf("click ratio %.4f; clicks per bot %.1f, per ordinary user %.1f", ratio, perBot, perUser)
	if perBot < 5*perUser {
		t.Errorf("clicks per bot %.1f, per ordinary user %.1f: want bots far above", perBot, perUser)
	}
	if len(ipOf) != a.Users || len(isBot) == 0 || botEvents == 0 {
		t.Errorf("saw %d users of %d, %d bots, %d bot events", len(ipOf), a.Users, len(isBot), botEvents)
	}
}

func checkEvent(t *testing.T, a Ads, e AdEvent, ipOf map[string]string) {
	t.Helper()
	cost := map[string]int64{KindView: a.ViewCostMicros, KindClick: a.ClickCostMicros}[e.Kind]
	if cost == 0 || e.CostMicros != cost || e.Advertiser != a.AdvertiserOf(e.Campaign) {
		t.Fatalf("bad event %+v", e)
	}
	if ip, ok := ipOf[e.User]; ok && ip != e.IP {
		t.Fatalf("user %s has IPs %s and %s", e.User, ip, e.IP)
	}
	ipOf[e.User] = e.IP
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAdsBots(t *testing.T) {
	for seed := range uint64(20) {
		a := DefaultAds(seed)
		bots := a.Bots()
		if len(bots) == 0 || len(bots) > 30 || !slices.IsSorted(bots) {
			t.Errorf("seed %d: %d bots, sorted %v; want about 10, sorted",
				seed, len(bots), slices.IsSorted(bots))
		}
	}
	a := DefaultAds(1)
	a.FraudUsers = 0
	if got := a.Bots(); len(got) != 0 {
		t.Errorf("FraudUsers 0: %d bots", len(got))
	}
	a.FraudUsers, a.Users = 1, 5
	if got := a.Bots(); len(got) != 5 || got[4] != "user-000004" {
		t.Errorf("FraudUsers 1: bots %v, want every user", got)
	}
}

func TestCampaignTable(t *testing.T) {
	a := DefaultAds(5)
	table := a.CampaignTable()
	if len(table) != a.Campaigns {
		t.Fatalf("%d campaigns, want %d", len(table), a.Campaigns)
	}
	for i, c := range table {
		if i > 0 && c.ID <= table[i-1].ID {
			t.Errorf("campaign IDs not increasing at %d: %s", i, c.ID)
		}
		if c.Advertiser != a.AdvertiserOf(c.ID) {
			t.Errorf("campaign %s: advertiser %s, AdvertiserOf says %s", c.ID, c.Advertiser, a.AdvertiserOf(c.ID))
		}
		if c.BudgetMicros < 100_000_000 || c.BudgetMicros > 10_000_000_000 {
			t.Errorf("campaign %s: budget %d micros", c.ID, c.BudgetMicros)
		}
	}
}

func TestAdvertiserOf(t *testing.T) {
	a := DefaultAds(1)
	for id, want := range map[string]string{
		"camp-0007": "adv-0007", "camp-0027": "adv-0007", "camp-0099": "adv-0019",
		"": "", "camp-": "", "camp-007": "", "camp-00007": "", "camp-0100": "",
		"camp-+007": "", "camp--007": "", "cmp-0007": "", "camp-00a7": "",
	} {
		if got := a.AdvertiserOf(id); got != want {
			t.Errorf("AdvertiserOf(%q) = %q, want %q", id, got, want)
		}
	}
	if got := (Ads{}).AdvertiserOf("camp-0000"); got != "" {
		t.Errorf("zero Ads: AdvertiserOf = %q, want empty", got)
	}
}

func TestAdsValidate(t *testing.T) {
	if err := DefaultAds(1).Validate(); err != nil {
		t.Fatalf("DefaultAds invalid: %v", err)
	}
	err := (Ads{ClickRatio: 2}).Validate()
	for _, field := range []string{"Users", "Campaigns", "Advertisers", "ClickRatio", "ClickCostMicros"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("zero Ads: error %v does not mention %s", err, field)
		}
	}
	mustPanic(t, func() { (Ads{}).Event(0, 0) })
	mustPanic(t, func() { (Ads{}).Bots() })
	mustPanic(t, func() { (Ads{}).CampaignTable() })
}

// TestValidAgreesWithValidate keeps the fast check in step with Validate.
func TestValidAgreesWithValidate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := Ads{
			Users:           rapid.IntRange(-1, MaxUsers+1).Draw(t, "users"),
			Campaigns:       rapid.IntRange(-1, MaxCampaigns+1).Draw(t, "campaigns"),
			Advertisers:     rapid.IntRange(-1, MaxAdvertisers+1).Draw(t, "advertisers"),
			ClickRatio:      rapid.Float64Range(-0.5, 1.5).Draw(t, "click"),
			BotClickRatio:   rapid.Float64Range(-0.5, 1.5).Draw(t, "botclick"),
			FraudUsers:      rapid.IntRange(-1, 10).Draw(t, "fraud"),
			ClickCostMicros: rapid.Int64Range(-1, 1).Draw(t, "clickcost"),
			ViewCostMicros:  rapid.Int64Range(-1, 1).Draw(t, "viewcost"),
		}
		if a.valid() != (a.Validate() == nil) {
			t.Fatalf("valid() = %v, Validate() = %v", a.valid(), a.Validate())
		}
	})
}

func TestAdsAllocs(t *testing.T) {
	a := DefaultAds(1)
	if n := testing.AllocsPerRun(100, func() { _ = a.Event(12345, 0) }); n != 1 {
		t.Errorf("Event: %v allocs, want 1", n)
	}
}
