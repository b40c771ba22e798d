package ysb

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

func TestExtract(t *testing.T) {
	const ad = "f0f0f0f0-0000-4000-8000-000000000001"
	for _, c := range []struct {
		rec  string
		view bool
		ms   int64
		bad  bool // malformed
	}{
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "1700000000123"}`, view: true, ms: 1700000000123},
		{rec: ` {"ad_id":"` + ad + `","event_time":"-5","event_type":"view","extra":[1,{"a":null}]} `, view: true, ms: -5},
		{rec: `{"event_type": "vi\u0065w", "ad_id": "` + ad + `", "event_time": "7"}`, view: true, ms: 7},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "7", "event_type": "click"}`, view: true, ms: 7},
		{rec: `{"event_type": "click", "ad_id": 5}`},
		{rec: `{"event_type": "purchase"}`},
		{rec: `{"event_type": "view ", "ad_id": "` + ad + `", "event_time": "7"}`},
		{rec: ``, bad: true},
		{rec: `not json`, bad: true},
		{rec: `["view"]`, bad: true},
		{rec: `"view"`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "7"`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "7"} {}`, bad: true},
		{rec: `{"ad_id": "` + ad + `", "event_time": "7"}`, bad: true},
		{rec: `{"event_type": 1}`, bad: true},
		{rec: `{"event_type": "view", "event_time": "7"}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": null, "event_time": "7"}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `"}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": 7}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": ""}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "-"}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "12a"}`, bad: true},
		{rec: `{"event_type": "view", "ad_id": "` + ad + `", "event_time": "1234567890123456789"}`, bad: true},
		{rec: `{"a": ` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`, bad: true}, // fastjson.MaxDepth
	} {
		var x Extractor
		gotAd, ms, view, err := x.Extract(c.rec)
		if c.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: error %v, want ErrMalformed", c.rec, err)
			}
			continue
		}
		if err != nil || view != c.view || ms != c.ms || (view && string(gotAd) != ad) {
			t.Errorf("%s: got %q %d %v %v, want view %v at %d", c.rec, gotAd, ms, view, err, c.view, c.ms)
		}
		if a2, ms2, v2, err2 := x.ExtractBytes([]byte(c.rec)); string(a2) != string(gotAd) || ms2 != ms || v2 != view || err2 != nil {
			t.Errorf("%s: ExtractBytes gave %q %d %v %v", c.rec, a2, ms2, v2, err2)
		}
	}
}

func TestExtractGenerated(t *testing.T) {
	g := New(5)
	campaigns := g.Campaigns()
	var x Extractor
	views := 0
	evs := g.Records(0, 3000, t0, t0.Add(3*time.Second))
	for i, s := range evs {
		ad, ms, view, err := x.Extract(s)
		if err != nil {
			t.Fatalf("event %d %s: %v", i, s, err)
		}
		if want := strings.Contains(s, `"event_type": "view"`); view != want {
			t.Fatalf("event %d %s: view %v", i, s, view)
		}
		if !view {
			continue
		}
		views++
		if _, ok := campaigns[string(ad)]; !ok || ms != t0.UnixMilli()+int64(i) {
			t.Fatalf("event %d %s: ad %s (in a campaign: %v), time %d", i, s, ad, ok, ms)
		}
	}
	if views < 900 || views > 1100 {
		t.Fatalf("%d views of 3000 events", views)
	}
}

// FuzzYSBExtract checks that Extract never panics, and, on valid JSON
// objects with distinct keys, agrees with encoding/json.
func FuzzYSBExtract(f *testing.F) {
	g := New(1)
	for i := range int64(20) {
		f.Add(g.Event(i, 1_700_000_000_000+i))
	}
	view := g.Event(0, 1_700_000_000_000)
	view = strings.Replace(strings.Replace(view, `"click"`, `"view"`, 1), `"purchase"`, `"view"`, 1)
	for _, s := range []string{view[:len(view)/2], strings.Replace(view, `": "`, `":`, 1),
		strings.Replace(view, `1.2.3.4"}`, `1.2.3.4"}}`, 1), `{"event_type":"view","ad_id":"\ud800","event_time":"0"}`,
		`{"event_type":"view","ad_id":"a","event_time":"-0"}`, `[[[[[[[[[[]]]]]]]]]]`, "{\"event_type\":\"view\x00\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rec string) {
		var x Extractor
		ad, ms, view, err := x.Extract(rec)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if err != nil && (view || ad != nil || ms != 0) {
			t.Fatalf("an error with results: %q %d %v", ad, ms, view)
		}
		want, ok := extractStd(rec)
		if !ok {
			return // invalid JSON (which fastjson may accept), or keys that repeat
		}
		if (err == nil) != (want.err == nil) || view != want.view || ms != want.ms ||
			(view && !strings.Contains(rec, `\u`) && !bytes.Equal(ad, []byte(want.ad))) {
			t.Fatalf("Extract: %q %d %v %v; encoding/json: %+v", ad, ms, view, err, want)
		}
	})
}

type stdResult struct {
	ad   string
	ms   int64
	view bool
	err  error
}

// extractStd is Extract by encoding/json, on valid UTF-8 JSON objects
// whose keys are distinct, nested at most fastjson.MaxDepth deep (ok
// false otherwise).
func extractStd(rec string) (r stdResult, ok bool) {
	var fields map[string]json.RawMessage
	if !utf8.ValidString(rec) || json.Unmarshal([]byte(rec), &fields) != nil || fields == nil || !distinctKeys(rec) ||
		depth(rec) > fastjson.MaxDepth {
		return r, false
	}
	str := func(key string) (string, error) {
		var s string
		if raw, ok := fields[key]; !ok || json.Unmarshal(raw, &s) != nil {
			return "", ErrMalformed
		}
		return s, nil
	}
	et, err := str("event_type")
	if err != nil || et != "view" {
		return stdResult{err: err}, true
	}
	if r.ad, r.err = str("ad_id"); r.err != nil {
		return stdResult{err: r.err}, true
	}
	t, err := str("event_time")
	if err != nil {
		return stdResult{err: err}, true
	}
	if r.ms, err = parseMillis([]byte(t)); err != nil {
		return stdResult{err: err}, true
	}
	r.view = true
	return r, true
}

// distinctKeys says whether the keys of the JSON object rec are distinct.
func distinctKeys(rec string) bool {
	d := json.NewDecoder(strings.NewReader(rec))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		k, isKey := tok.(string)
		if err != nil || !isKey || seen[k] {
			return false
		}
		seen[k] = true
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return false
		}
	}
	return true
}

// depth returns how deep the valid JSON value rec nests.
func depth(rec string) int {
	var d, most int
	inString := false
	for i := 0; i < len(rec); i++ {
		switch c := rec[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			d++
			most = max(most, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return most
}
