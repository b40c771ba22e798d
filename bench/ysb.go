package bench

import (
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bench/ysb"
)

// The Yahoo streaming benchmark (DESIGN.md section 11), in-process: JSON
// ad events from bench/ysb's generator; parse, keep the views, project
// (ad_id, event_time), join ad → campaign with the static campaign table,
// and count the views of each campaign in 10 s tumbling event-time
// windows.

// ysbCount is the views of one campaign in one window, and the latest of
// their event times (Unix milliseconds): what the windows' reduce keeps.
type ysbCount struct {
	Views int64
	Last  int64
}

func addYSBCounts(a, b ysbCount) ysbCount {
	return ysbCount{Views: a.Views + b.Views, Last: max(a.Last, b.Last)}
}

func buildYSB(c *sluice.Context, seed uint64, rate int, out *Output) {
	g := ysb.New(seed)
	// The join's other side is a static table of 1000 entries. A map
	// captured by the closure is a map-side (broadcast) join at the cost
	// of one lookup per view: every process that runs the job's tasks
	// builds the same map from the seed (a cluster's workers run Build
	// too), so nothing is shipped. A Parallelize dataset joined in a
	// Transform would shuffle the views by ad id every batch, which is
	// what the join is meant to avoid.
	campaigns := g.Campaigns()
	events := sluice.Generate(c, g, rate)
	// Parse, filter, project, join and count in one pass per partition:
	// the views of a partition meet in a few hundred (window, campaign)
	// counts before the shuffle. Each count carries the latest event time
	// of its views, so the window operator's watermark (the latest event
	// time) and its windows are those of the views themselves: the counts
	// of a tumbling window lie in that window.
	counts := sluice.MapPartitions(events, func(p []string) []sluice.KV[string, ysbCount] {
		return countViews(g, campaigns, p)
	})
	windows := sluice.ReduceByKeyAndEventWindow(counts, func(kv sluice.KV[string, ysbCount]) time.Time {
		return time.UnixMilli(kv.Value.Last)
	}, addYSBCounts, ysb.Window, ysb.Window, sluice.Named("ysb-campaign-views"))
	EmitWindows(windows, out, formatYSB)
}

// formatYSB writes a window's count as "start campaign views".
func formatYSB(kv sluice.KV[sluice.EventWindow[string], ysbCount]) string {
	return kv.Key.Start.Format(time.RFC3339) + " " + kv.Key.Key + " " + strconv.FormatInt(kv.Value.Views, 10)
}

// windowViews is the views of each campaign in one window of one
// partition.
type windowViews struct {
	start int64 // Unix milliseconds
	views [ysb.Campaigns]int64
	last  [ysb.Campaigns]int64 // each campaign's latest view, for the watermark
}

// viewCounter counts views by window and campaign.
type viewCounter struct {
	campaigns map[string]int
	x         ysb.Extractor
	windows   []*windowViews
	// dropped counts the events that were malformed or whose ad is in
	// no campaign.
	dropped int64
}

// add counts one event, as Extract returned it, if it is a view.
func (vc *viewCounter) add(ad []byte, ms int64, view bool, err error) {
	if err != nil {
		vc.dropped++
		return
	}
	if !view {
		return
	}
	c, ok := vc.campaigns[string(ad)]
	if !ok {
		vc.dropped++
		return
	}
	w := vc.window(ms)
	if w.views[c] == 0 || ms > w.last[c] {
		w.last[c] = ms
	}
	w.views[c]++
}

// window returns the counts of the window holding time ms. A partition's
// events span one or two windows, the last used first.
func (vc *viewCounter) window(ms int64) *windowViews {
	const width = int64(ysb.Window / time.Millisecond)
	start := ms - ms%width
	if ms%width < 0 {
		start -= width
	}
	for i := len(vc.windows) - 1; i >= 0; i-- {
		if vc.windows[i].start == start {
			return vc.windows[i]
		}
	}
	w := &windowViews{start: start}
	vc.windows = append(vc.windows, w)
	return w
}

// countViews returns a partition's view counts by campaign, each with the
// latest event time of its views. It logs how many events it dropped.
func countViews(g *ysb.Gen, campaigns map[string]int, p []string) []sluice.KV[string, ysbCount] {
	vc := viewCounter{campaigns: campaigns}
	for _, rec := range p {
		vc.add(vc.x.Extract(rec))
	}
	if vc.dropped > 0 {
		slog.Warn("bench: ysb dropped malformed events or events of no campaign", "events", vc.dropped)
	}
	var out []sluice.KV[string, ysbCount]
	for _, w := range vc.windows {
		for c, n := range w.views {
			if n > 0 {
				out = append(out, sluice.Pair(g.CampaignID(c), ysbCount{Views: n, Last: w.last[c]}))
			}
		}
	}
	return out
}

// ysbBaseline is YSB as one thread: it makes each batch's events one at
// a time in one buffer (the same bytes, without allocating), parses them
// with the same parser, keeps the views of known ads, counts them by
// window and campaign, and closes windows by the same watermark as the
// window operator: the latest event time of the views so far. (It shares
// no code with the job past the parser, so that the correctness test
// compares two programs.)
func ysbBaseline(in Input) func(int64, *Output) {
	g := ysb.New(in.Seed)
	campaigns := g.Campaigns()
	var x ysb.Extractor
	const width = int64(ysb.Window / time.Millisecond)
	open := make(map[int64]*[ysb.Campaigns]int64) // view counts by window start (Unix ms)
	watermark := int64(math.MinInt64)             // the latest view's time (Unix ms)
	var last *[ysb.Campaigns]int64                // the window of the latest view, and its start
	lastStart := int64(math.MinInt64)
	return func(k int64, out *Output) {
		from, to, start, end := in.Range(k)
		before := watermark // the windows it reached closed in earlier batches
		g.Each(from, to, start, end, func(rec []byte) {
			ad, ms, view, err := x.ExtractBytes(rec)
			if err != nil || !view {
				return
			}
			c, ok := campaigns[string(ad)]
			if !ok {
				return
			}
			ws := ms - ((ms%width)+width)%width
			if ws+width <= before { // late
				return
			}
			if ws != lastStart {
				if last = open[ws]; last == nil {
					last = new([ysb.Campaigns]int64)
					open[ws] = last
				}
				lastStart = ws
			}
			last[c]++
			watermark = max(watermark, ms)
		})
		var closed []string
		for ws, counts := range open {
			if ws+width > watermark {
				continue
			}
			if out != nil {
				w := sluice.EventWindow[string]{Start: time.UnixMilli(ws).UTC(), End: time.UnixMilli(ws + width).UTC()}
				for c, n := range counts {
					if n > 0 {
						w.Key = g.CampaignID(c)
						closed = append(closed, formatYSB(sluice.Pair(w, ysbCount{Views: n})))
					}
				}
			}
			delete(open, ws)
			if ws == lastStart {
				last, lastStart = nil, math.MinInt64
			}
		}
		if out != nil {
			out.Add(end, closed...)
		}
	}
}
