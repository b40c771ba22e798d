// Package demo is Sluice's main job: streaming ad-fraud and billing
// analytics over the built-in ad-event generator. `sluice demo` runs it;
// the tests check its results against a direct computation.
//
// Per batch it computes:
//   - views and clicks per campaign over a sliding window (an incremental
//     ReduceByKeyAndWindow with an inverse function);
//   - users whose clicks over a sliding window exceed their threshold in a
//     static model dataset (a Transform joining each window with the model);
//   - the running spend of every advertiser (UpdateStateByKey).
package demo

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/gen"
)

// Config configures the job.
type Config struct {
	Seed uint64
	// Rate is the number of ad events per second.
	Rate int
	// Window and Slide are the sliding window's length and slide, in batches.
	Window, Slide int
	// Threshold is the default number of clicks per window above which a
	// user is flagged; the model raises it for trusted users.
	Threshold int64
	// Top is the number of campaigns and advertisers shown per batch.
	Top int
}

// DefaultConfig is the configuration `sluice demo` starts from.
func DefaultConfig() Config {
	return Config{Seed: 42, Rate: 20_000, Window: 10, Slide: 1, Threshold: 8, Top: 5}
}

// Counts are a campaign's views and clicks.
type Counts struct{ Views, Clicks int64 }

func addCounts(a, b Counts) Counts { return Counts{a.Views + b.Views, a.Clicks + b.Clicks} }
func subCounts(a, b Counts) Counts { return Counts{a.Views - b.Views, a.Clicks - b.Clicks} }

// Flag is a user whose clicks in the window exceeded the model's threshold.
type Flag struct {
	User      string
	Clicks    int64
	Threshold int64
}

// Report is the result of one batch.
type Report struct {
	Time       time.Time
	Events     int64
	Campaigns  []sluice.KV[string, Counts] // top campaigns by clicks in the window
	Flags      []Flag                      // sorted by user
	Spend      []sluice.KV[string, int64]  // top advertisers by spend so far, micro-dollars
	TotalSpend int64
}

// Job is the built job: its reports arrive on Reports as batches complete.
type Job struct {
	cfg     Config
	ads     gen.Ads
	mu      sync.Mutex
	reports map[int64]*Report
	// Reports receives each batch's report once its last output ran.
	Reports chan Report
}

// Ads returns the generator configuration (for tests: its bots).
func (j *Job) Ads() gen.Ads { return j.ads }

// Model returns the fraud model: each user's click threshold per window.
// Every twentieth user is trusted with twice the default threshold.
func Model(cfg Config, ads gen.Ads) []sluice.KV[string, int64] {
	m := make([]sluice.KV[string, int64], ads.Users)
	for u := range m {
		t := cfg.Threshold
		if u%20 == 0 {
			t *= 2
		}
		m[u] = sluice.Pair(fmt.Sprintf("user-%06d", u), t)
	}
	return m
}

// Build adds the job to c.
func Build(c *sluice.Context, cfg Config) *Job {
	ads := gen.DefaultAds(cfg.Seed)
	j := &Job{cfg: cfg, ads: ads, reports: make(map[int64]*Report), Reports: make(chan Report, 1024)}
	b := c.BatchInterval()
	w, s := time.Duration(cfg.Window)*b, time.Duration(cfg.Slide)*b
	events := sluice.Generate(c, adGenerator(ads), cfg.Rate)
	sluice.ForeachBatch(sluice.Count(events), func(ctx context.Context, d sluice.Dataset[int64], t time.Time) error {
		n, err := d.Collect(ctx)
		if err == nil && len(n) == 1 {
			j.report(t).Events = n[0]
		}
		return err
	})
	j.campaigns(events, w, s)
	j.fraud(c, events, w, s)
	j.billing(events)
	return j
}

func adGenerator(ads gen.Ads) sluice.Generator[gen.AdEvent] {
	return sluice.GeneratorFunc[gen.AdEvent](func(from, to int64, start, end time.Time) []gen.AdEvent {
		return ads.AppendRange(nil, from, to, start.UnixNano(), end.UnixNano())
	})
}

func (j *Job) report(t time.Time) *Report {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.reports[t.UnixNano()]
	if r == nil {
		r = &Report{Time: t}
		j.reports[t.UnixNano()] = r
	}
	return r
}

// campaigns counts views and clicks per campaign over the window.
func (j *Job) campaigns(events *sluice.Stream[gen.AdEvent], w, s time.Duration) {
	per := sluice.Map(events, func(e gen.AdEvent) sluice.KV[string, Counts] {
		if e.Kind == gen.KindClick {
			return sluice.Pair(e.Campaign, Counts{Clicks: 1})
		}
		return sluice.Pair(e.Campaign, Counts{Views: 1})
	})
	windowed := sluice.ReduceByKeyAndWindow(per, addCounts, subCounts, w, s,
		sluice.Named("campaign-counts"),
		sluice.KeepKeys(func(kv sluice.KV[string, Counts]) bool { return kv.Value != Counts{} }))
	sluice.ForeachBatch(windowed, func(ctx context.Context, d sluice.Dataset[sluice.KV[string, Counts]], t time.Time) error {
		all, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		sort.Slice(all, func(a, b int) bool {
			if all[a].Value.Clicks != all[b].Value.Clicks {
				return all[a].Value.Clicks > all[b].Value.Clicks
			}
			return all[a].Key < all[b].Key
		})
		j.report(t).Campaigns = all[:min(j.cfg.Top, len(all))]
		return nil
	})
}

// fraud flags users whose clicks over the window exceed the model's
// threshold for them.
func (j *Job) fraud(c *sluice.Context, events *sluice.Stream[gen.AdEvent], w, s time.Duration) {
	model := sluice.Parallelize(c, Model(j.cfg, j.ads), 0)
	clicks := sluice.Map(sluice.Filter(events, func(e gen.AdEvent) bool { return e.Kind == gen.KindClick }),
		func(e gen.AdEvent) sluice.KV[string, int64] { return sluice.Pair(e.User, int64(1)) })
	perUser := sluice.ReduceByKeyAndWindow(clicks, add, sub, w, s,
		sluice.Named("user-clicks"),
		sluice.KeepKeys(func(kv sluice.KV[string, int64]) bool { return kv.Value > 0 }))
	flagged := sluice.Transform(perUser, func(d sluice.Dataset[sluice.KV[string, int64]], _ time.Time) sluice.Dataset[Flag] {
		joined := dataset.Join(d.Filter(func(kv sluice.KV[string, int64]) bool { return kv.Value > j.cfg.Threshold }), model)
		over := joined.Filter(func(kv sluice.KV[string, sluice.Joined[int64, int64]]) bool {
			return kv.Value.Left > kv.Value.Right
		})
		return dataset.Map(over, func(kv sluice.KV[string, sluice.Joined[int64, int64]]) Flag {
			return Flag{User: kv.Key, Clicks: kv.Value.Left, Threshold: kv.Value.Right}
		})
	})
	sluice.ForeachBatch(flagged, func(ctx context.Context, d sluice.Dataset[Flag], t time.Time) error {
		all, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		sort.Slice(all, func(a, b int) bool { return all[a].User < all[b].User })
		j.report(t).Flags = all
		return nil
	})
}

func add(a, b int64) int64 { return a + b }
func sub(a, b int64) int64 { return a - b }

// billing keeps every advertiser's running spend.
func (j *Job) billing(events *sluice.Stream[gen.AdEvent]) {
	cost := sluice.Map(events, func(e gen.AdEvent) sluice.KV[string, int64] { return sluice.Pair(e.Advertiser, e.CostMicros) })
	spend := sluice.UpdateStateByKey(cost, func(_ string, costs []int64, total int64, _ bool) (int64, bool) {
		for _, c := range costs {
			total += c
		}
		return total, true
	}, sluice.Named("advertiser-spend"))
	sluice.ForeachBatch(spend, func(ctx context.Context, d sluice.Dataset[sluice.KV[string, int64]], t time.Time) error {
		all, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		r := j.report(t)
		for _, kv := range all {
			r.TotalSpend += kv.Value
		}
		sort.Slice(all, func(a, b int) bool {
			if all[a].Value != all[b].Value {
				return all[a].Value > all[b].Value
			}
			return all[a].Key < all[b].Key
		})
		r.Spend = all[:min(j.cfg.Top, len(all))]
		j.mu.Lock()
		delete(j.reports, t.UnixNano())
		j.mu.Unlock()
		select {
		case j.Reports <- *r:
		default: // nobody is reading: drop rather than block the job
		}
		return nil
	})
}
