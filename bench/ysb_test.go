package bench

import (
	"encoding/json"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/ysb"
)

// TestYSBCountViews checks a partition's view counts against encoding/json
// on events before and after the epoch, with malformed events and events
// of unknown ads mixed in (dropped).
func TestYSBCountViews(t *testing.T) {
	g := ysb.New(3)
	start := time.Unix(-15, 0) // the windows [-20s, -10s), [-10s, 0) and [0, 10s)
	evs := g.Records(0, 20_000, start, start.Add(20*time.Second))
	campaigns := g.Campaigns()
	type key struct {
		start    int64
		campaign string
	}
	want := map[key]ysbCount{}
	for _, s := range evs {
		var e struct {
			AdID      string `json:"ad_id"`
			EventType string `json:"event_type"`
			EventTime string `json:"event_time"`
		}
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Fatal(err)
		}
		if e.EventType != "view" {
			continue
		}
		ms, _ := strconv.ParseInt(e.EventTime, 10, 64)
		// Truncate rounds down since year 1, a multiple of 10 s before 1970.
		k := key{time.UnixMilli(ms).Truncate(ysb.Window).UnixMilli(), g.CampaignID(campaigns[e.AdID])}
		c := want[k]
		if c.Views == 0 || ms > c.Last {
			c.Last = ms
		}
		c.Views++
		want[k] = c
	}
	mixed := append([]string{`{"event_type": "view"`, `{"event_type": "view", "ad_id": "nope", "event_time": "0"}`, ""}, evs...)
	got := map[key]ysbCount{}
	for _, kv := range countViews(g, campaigns, mixed) {
		k := key{kv.Value.Last - ((kv.Value.Last%10_000)+10_000)%10_000, kv.Key}
		if _, dup := got[k]; dup {
			t.Fatalf("%v counted twice", k)
		}
		got[k] = kv.Value
	}
	if len(want) != 300 || !maps.Equal(got, want) {
		t.Fatalf("got %d counts, want %d; equal: %v", len(got), len(want), maps.Equal(got, want))
	}
}
