package demo

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/gen"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reference recomputes the demo's results for batch k (1-based) directly
// from the generator.
type reference struct {
	cfg   Config
	ads   gen.Ads
	batch time.Duration
}

func (r reference) events(k int) []gen.AdEvent {
	n := int64(float64(r.cfg.Rate) * r.batch.Seconds())
	t := sluicetest.Epoch.Add(time.Duration(k) * r.batch)
	return r.ads.AppendRange(nil, int64(k-1)*n, int64(k)*n, t.Add(-r.batch).UnixNano(), t.UnixNano())
}

func (r reference) window(k int) []gen.AdEvent {
	var out []gen.AdEvent
	for i := max(1, k-r.cfg.Window+1); i <= k; i++ {
		out = append(out, r.events(i)...)
	}
	return out
}

func (r reference) report(k int) Report {
	rep := Report{Time: sluicetest.Epoch.Add(time.Duration(k) * r.batch), Events: int64(len(r.events(k)))}
	camp := map[string]Counts{}
	clicks := map[string]int64{}
	for _, e := range r.window(k) {
		c := camp[e.Campaign]
		if e.Kind == gen.KindClick {
			c.Clicks++
			clicks[e.User]++
		} else {
			c.Views++
		}
		camp[e.Campaign] = c
	}
	for id, c := range camp {
		rep.Campaigns = append(rep.Campaigns, sluice.Pair(id, c))
	}
	sort.Slice(rep.Campaigns, func(a, b int) bool {
		x, y := rep.Campaigns[a], rep.Campaigns[b]
		if x.Value.Clicks != y.Value.Clicks {
			return x.Value.Clicks > y.Value.Clicks
		}
		return x.Key < y.Key
	})
	rep.Campaigns = rep.Campaigns[:min(r.cfg.Top, len(rep.Campaigns))]
	model := map[string]int64{}
	for _, kv := range Model(r.cfg, r.ads) {
		model[kv.Key] = kv.Value
	}
	for u, n := range clicks {
		if n > model[u] {
			rep.Flags = append(rep.Flags, Flag{User: u, Clicks: n, Threshold: model[u]})
		}
	}
	sort.Slice(rep.Flags, func(a, b int) bool { return rep.Flags[a].User < rep.Flags[b].User })
	spend := map[string]int64{}
	for i := 1; i <= k; i++ {
		for _, e := range r.events(i) {
			spend[e.Advertiser] += e.CostMicros
			rep.TotalSpend += e.CostMicros
		}
	}
	for a, s := range spend {
		rep.Spend = append(rep.Spend, sluice.Pair(a, s))
	}
	sort.Slice(rep.Spend, func(a, b int) bool {
		x, y := rep.Spend[a], rep.Spend[b]
		if x.Value != y.Value {
			return x.Value > y.Value
		}
		return x.Key < y.Key
	})
	rep.Spend = rep.Spend[:min(r.cfg.Top, len(rep.Spend))]
	return rep
}

func TestDemoMatchesDirectComputation(t *testing.T) {
	for _, master := range []string{"local[1]", "local[3]"} {
		t.Run(master, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Rate, cfg.Window = 4000, 4
			h := sluicetest.New(t, time.Second, sluice.Master(master))
			job := Build(h.Context, cfg)
			ref := reference{cfg: cfg, ads: job.Ads(), batch: time.Second}
			const batches = 12
			h.Run(batches)
			for k := 1; k <= batches; k++ {
				got := <-job.Reports
				want := ref.report(k)
				if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Fatalf("batch %d:\n got %+v\nwant %+v", k, got, want)
				}
			}
		})
	}
}

func TestDemoFlagsBots(t *testing.T) {
	cfg := DefaultConfig()
	h := sluicetest.New(t, time.Second)
	job := Build(h.Context, cfg)
	h.Run(cfg.Window)
	var last Report
	for i := 0; i < cfg.Window; i++ {
		last = <-job.Reports
	}
	bots := map[string]bool{}
	for _, b := range job.Ads().Bots() {
		bots[b] = true
	}
	caught := 0
	for _, f := range last.Flags {
		if bots[f.User] {
			caught++
		}
	}
	if caught < len(bots)*3/4 || caught < len(last.Flags)/2 {
		t.Fatalf("flagged %d users of whom %d bots; there are %d bots", len(last.Flags), caught, len(bots))
	}
}

func TestPrint(t *testing.T) {
	var buf bytes.Buffer
	Print(&buf, Report{
		Time: sluicetest.Epoch.Add(time.Second), Events: 12345,
		Campaigns:  []sluice.KV[string, Counts]{sluice.Pair("camp-0001", Counts{Views: 900, Clicks: 100})},
		Spend:      []sluice.KV[string, int64]{sluice.Pair("adv-0001", int64(1_234_560_000))},
		TotalSpend: 1_234_560_000,
		Flags:      []Flag{{User: "user-000001", Clicks: 20, Threshold: 8}},
	}, sluicetest.Epoch)
	out := buf.String()
	for _, want := range []string{"12,345 events", "camp-0001", "10.0%", "$1,234.56", "user-000001 (20 clicks > 8)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
