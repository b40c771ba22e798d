package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve sends a request to h and returns the answer.
func serve(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// getJSON GETs target, checks the status and decodes the body into v.
func getJSON(t *testing.T, h http.Handler, target string, code int, v any) {
	t.Helper()
	w := serve(t, h, http.MethodGet, target)
	if w.Code != code {
		t.Fatalf("GET %s: status %d, want %d (body %s)", target, w.Code, code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", target, ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: decoding %s: %v", target, w.Body, err)
	}
}

// wantError GETs target and checks the status and the JSON error message.
func wantError(t *testing.T, h http.Handler, target string, code int, msg string) {
	t.Helper()
	var e apiError
	getJSON(t, h, target, code, &e)
	if !strings.HasPrefix(e.Error, "ui: ") && !strings.HasPrefix(e.Error, "fake: ") {
		t.Errorf("GET %s: error %q has no package prefix", target, e.Error)
	}
	if !strings.Contains(e.Error, msg) {
		t.Errorf("GET %s: error %q, want it to contain %q", target, e.Error, msg)
	}
}

func TestOverview(t *testing.T) {
	f := newFakeSource()
	f.addBatch()
	f.setWorkerState("worker-2", "lost")
	h := Handler(f)
	var got Overview
	getJSON(t, h, "/api/overview", http.StatusOK, &got)
	if want := f.Overview(); !reflect.DeepEqual(normal(t, got), normal(t, want)) {
		t.Errorf("overview %+v, want %+v", got, want)
	}
	if got.WorkersAlive != 2 || got.WorkersLost != 1 || got.BatchMS != 1000 {
		t.Errorf("overview counts alive %d lost %d batch %d ms, want 2, 1, 1000", got.WorkersAlive, got.WorkersLost, got.BatchMS)
	}
	if w := serve(t, h, http.MethodGet, "/api/overview"); w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
	}
}

// normal round-trips v through JSON, so values compare as the API shows
// them (times without monotonic readings).
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBatches(t *testing.T) {
	f := newFakeSource()
	h := Handler(f)

	// No batch yet: an empty list, not null.
	if w := serve(t, h, http.MethodGet, "/api/batches"); w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
		t.Fatalf("no batches: %d %q, want 200 []", w.Code, w.Body)
	}
	var all []BatchDetail
	for range 5 {
		all = append(all, f.addBatch())
	}
	times := func(bs []Batch) []int64 {
		var out []int64
		for _, b := range bs {
			out = append(out, b.Time.UnixMilli())
		}
		return out
	}
	ms := func(i int) int64 { return all[i].Time.UnixMilli() }
	for _, c := range []struct {
		target string
		want   []int64
	}{
		{"/api/batches", []int64{ms(0), ms(1), ms(2), ms(3), ms(4)}},
		{"/api/batches?since=0", []int64{ms(0), ms(1), ms(2), ms(3), ms(4)}},
		{"/api/batches?since=", []int64{ms(0), ms(1), ms(2), ms(3), ms(4)}},
		{"/api/batches?since=" + strconv.FormatInt(ms(2), 10), []int64{ms(3), ms(4)}},
		{"/api/batches?since=" + strconv.FormatInt(ms(2)-1, 10), []int64{ms(2), ms(3), ms(4)}},
		{"/api/batches?since=" + strconv.FormatInt(ms(4), 10), nil},
	} {
		var got []Batch
		getJSON(t, h, c.target, http.StatusOK, &got)
		if !reflect.DeepEqual(times(got), c.want) {
			t.Errorf("GET %s: batches %v, want %v", c.target, times(got), c.want)
		}
	}
	var got []Batch
	getJSON(t, h, "/api/batches", http.StatusOK, &got)
	if !reflect.DeepEqual(normal(t, got[3]), normal(t, all[3].Batch)) {
		t.Errorf("batch 3: %+v, want %+v", got[3], all[3].Batch)
	}
	for _, bad := range []string{"abc", "-1", "1.5", "1e3", "99999999999999999999"} {
		wantError(t, h, "/api/batches?since="+bad, http.StatusBadRequest, "bad since")
	}
}

func TestBatchDetail(t *testing.T) {
	f := newFakeSource()
	h := Handler(f)
	f.addBatch()
	b := f.addBatch()
	var got BatchDetail
	getJSON(t, h, "/api/batches/"+strconv.FormatInt(b.Time.UnixMilli(), 10), http.StatusOK, &got)
	if !reflect.DeepEqual(normal(t, got), normal(t, b)) {
		t.Errorf("batch detail %+v, want %+v", got, b)
	}
	if len(got.Jobs) != 2 || len(got.Jobs[0].Stages) != 2 || len(got.Jobs[0].Stages[0].Tasks) != 6 {
		t.Errorf("batch detail has %d jobs, want 2 with 2 stages, the first with 6 tasks", len(got.Jobs))
	}
	// The JSON names the driver and the page agree on.
	raw := serve(t, h, http.MethodGet, "/api/batches/"+strconv.FormatInt(b.Time.UnixMilli(), 10)).Body.String()
	for _, name := range []string{`"scheduling_delay_ms"`, `"jobs":[`, `"stages":[`, `"tasks":[`, `"speculative":true`, `"shuffle_write_bytes"`} {
		if !strings.Contains(raw, name) {
			t.Errorf("batch detail JSON lacks %s: %s", name, raw)
		}
	}
	wantError(t, h, "/api/batches/"+strconv.FormatInt(b.Time.UnixMilli()+1, 10), http.StatusNotFound, "no batch at")
	wantError(t, h, "/api/batches/0", http.StatusNotFound, "no batch at")
	for _, bad := range []string{"x", "-5", "1.5", "12abc"} {
		wantError(t, h, "/api/batches/"+bad, http.StatusBadRequest, "bad batch time")
	}
}

func TestWorkersEventsGraph(t *testing.T) {
	f := newFakeSource()
	h := Handler(f)
	var ws []Worker
	getJSON(t, h, "/api/workers", http.StatusOK, &ws)
	if !reflect.DeepEqual(normal(t, ws), normal(t, f.Workers())) {
		t.Errorf("workers %+v, want %+v", ws, f.Workers())
	}

	if w := serve(t, h, http.MethodGet, "/api/events"); strings.TrimSpace(w.Body.String()) != "[]" {
		t.Errorf("no events: %q, want []", w.Body)
	}
	for i := range 4 {
		f.addEvent(EventWorkerJoined, "worker-"+strconv.Itoa(i), "joined")
	}
	for _, c := range []struct {
		target string
		want   []int64
	}{
		{"/api/events", []int64{1, 2, 3, 4}},
		{"/api/events?after=0", []int64{1, 2, 3, 4}},
		{"/api/events?after=2", []int64{3, 4}},
		{"/api/events?after=4", nil},
		{"/api/events?after=400", nil},
	} {
		var es []Event
		getJSON(t, h, c.target, http.StatusOK, &es)
		var seqs []int64
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if !reflect.DeepEqual(seqs, c.want) {
			t.Errorf("GET %s: seqs %v, want %v", c.target, seqs, c.want)
		}
	}
	for _, bad := range []string{"x", "-1", "2.0"} {
		wantError(t, h, "/api/events?after="+bad, http.StatusBadRequest, "bad after")
	}

	var g Graph
	getJSON(t, h, "/api/graph", http.StatusOK, &g)
	if !reflect.DeepEqual(g, f.Graph()) {
		t.Errorf("graph %+v, want %+v", g, f.Graph())
	}
	empty := Handler(emptySource{})
	if w := serve(t, empty, http.MethodGet, "/api/graph"); strings.TrimSpace(w.Body.String()) != `{"nodes":[],"edges":[]}` {
		t.Errorf("empty graph: %s", w.Body)
	}
	for _, p := range []string{"/api/workers", "/api/state", "/api/batches", "/api/events"} {
		if w := serve(t, empty, http.MethodGet, p); strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("GET %s of an empty source: %s, want []", p, w.Body)
		}
	}
}

func TestState(t *testing.T) {
	f := newFakeSource()
	h := Handler(f)
	var ops []Operator
	getJSON(t, h, "/api/state", http.StatusOK, &ops)
	if !reflect.DeepEqual(normal(t, ops), normal(t, f.Operators())) {
		t.Errorf("operators %+v, want %+v", ops, f.Operators())
	}

	for _, c := range []struct {
		target string
		want   Query
		keys   []string
	}{
		{"/api/state/counts?key=apple", Query{Operator: "counts", Key: "apple", HasKey: true}, []string{`"apple"`}},
		{"/api/state/counts?key=a+b%26c%3Dd%2F%C3%A9", Query{Operator: "counts", Key: "a b&c=d/é", HasKey: true}, []string{`"a b\u0026c=d/é"`}},
		{"/api/state/counts?key=", Query{Operator: "counts", Key: "", HasKey: true}, nil},
		{"/api/state/counts?key=cherry", Query{Operator: "counts", Key: "cherry", HasKey: true}, nil},
		{"/api/state/counts", Query{Operator: "counts", Sample: DefaultSample}, []string{`"a b\u0026c=d/é"`, `"apple"`, `"banana"`}},
		{"/api/state/counts?sample=2", Query{Operator: "counts", Sample: 2}, []string{`"a b\u0026c=d/é"`, `"apple"`}},
		{"/api/state/counts?sample=1000", Query{Operator: "counts", Sample: MaxSample}, []string{`"a b\u0026c=d/é"`, `"apple"`, `"banana"`}},
	} {
		var e StateEntries
		getJSON(t, h, c.target, http.StatusOK, &e)
		q, left := f.lastLookup()
		if q != c.want {
			t.Errorf("GET %s: query %+v, want %+v", c.target, q, c.want)
		}
		if left <= 0 || left > LookupTimeout {
			t.Errorf("GET %s: lookup context deadline in %v, want within %v", c.target, left, LookupTimeout)
		}
		var keys []string
		for _, en := range e.Entries {
			keys = append(keys, string(en.Key))
		}
		if !reflect.DeepEqual(keys, c.keys) {
			t.Errorf("GET %s: keys %q, want %q", c.target, keys, c.keys)
		}
		if e.Operator != "counts" || e.Entries == nil {
			t.Errorf("GET %s: answer %+v, want operator counts and a list of entries", c.target, e)
		}
	}

	// Names are path segments, unescaped.
	wantError(t, h, "/api/state/a%2Fb", http.StatusNotFound, `"a/b"`)
	if q, _ := f.lastLookup(); q.Operator != "a/b" {
		t.Errorf("escaped name: operator %q, want a/b", q.Operator)
	}

	n := len(f.lookups)
	wantError(t, h, "/api/state/nope", http.StatusNotFound, "no such stateful operator")
	wantError(t, h, "/api/state/fresh", http.StatusConflict, "no state yet")
	wantError(t, h, "/api/state/broken?key=x", http.StatusInternalServerError, "connection refused")
	wantError(t, h, "/api/state/counts?key=not-a-key", http.StatusBadRequest, "bad state query")
	n += 4
	for _, c := range []struct{ target, msg string }{
		{"/api/state/counts?sample=0", "bad sample"},
		{"/api/state/counts?sample=1001", "bad sample"},
		{"/api/state/counts?sample=-3", "bad sample"},
		{"/api/state/counts?sample=x", "bad sample"},
		{"/api/state/counts?sample=", "empty sample"},
		{"/api/state/counts?key=a&sample=3", "not both"},
	} {
		wantError(t, h, c.target, http.StatusBadRequest, c.msg)
	}
	if len(f.lookups) != n {
		t.Errorf("bad requests reached Lookup: %d lookups, want %d", len(f.lookups), n)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	h := Handler(newFakeSource())
	for _, target := range []string{"/", "/api/overview", "/api/batches", "/api/batches/5", "/api/workers", "/api/events",
		"/api/graph", "/api/state", "/api/state/counts", "/assets/app.js"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			w := serve(t, h, m, target)
			if w.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", m, target, w.Code)
				continue
			}
			if a := w.Header().Get("Allow"); a != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, target, a)
			}
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, "not allowed") {
				t.Errorf("%s %s: body %q, want a JSON error", m, target, w.Body)
			}
		}
	}
	// HEAD is GET without a body.
	if w := serve(t, h, http.MethodHead, "/api/overview"); w.Code != http.StatusOK {
		t.Errorf("HEAD /api/overview: %d", w.Code)
	}

	// The driver mounts /metrics and /status beside the UI: they, and
	// anything else unknown, are not the UI's.
	for _, target := range []string{"/metrics", "/status", "/index.html", "/nope", "/assets", "/assets/", "/assets/nope.js",
		"/assets/index.html", "/assets/vendor/", "/assets/vendor/uplot", "/api", "/api/", "/api/nope", "/api/batches/", "/api/state/"} {
		if w := serve(t, h, http.MethodGet, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, w.Code)
		}
	}
	wantError(t, h, "/api/nope", http.StatusNotFound, "no such API endpoint")

	// Mounted at "/" beside other handlers, as the driver does.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status") })
	mux.Handle("/", h)
	for target, want := range map[string]string{"/metrics": "metrics", "/status": "status"} {
		if w := serve(t, mux, http.MethodGet, target); w.Body.String() != want {
			t.Errorf("GET %s beside the UI: %q, want %q", target, w.Body, want)
		}
	}
	if w := serve(t, mux, http.MethodGet, "/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<title>Sluice</title>") {
		t.Errorf("GET / beside /metrics: %d", w.Code)
	}
	// And below a prefix: the page's links are relative.
	prefixed := http.StripPrefix("/ui", h)
	for _, target := range []string{"/ui/", "/ui/assets/app.js", "/ui/api/overview"} {
		if w := serve(t, prefixed, http.MethodGet, target); w.Code != http.StatusOK {
			t.Errorf("GET %s below /ui: status %d", target, w.Code)
		}
	}
}

func TestPageAndAssets(t *testing.T) {
	h := Handler(newFakeSource())
	w := serve(t, h, http.MethodGet, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /: %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /: Cache-Control %q, want no-cache", cc)
	}
	page := w.Body.String()
	for _, id := range []string{"chart-input-rate", "chart-scheduling-delay", "chart-processing", "chart-total-delay"} {
		if !strings.Contains(page, `id="`+id+`" data-points="0"`) {
			t.Errorf("the page has no chart %s with data-points", id)
		}
	}

	// Every src and href of the page is a relative URL that the handler
	// serves, with the right type.
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	wantTypes := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	assets := 0
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue // a route of the page
		}
		if strings.HasPrefix(ref, "/") || strings.Contains(ref, "://") || strings.HasPrefix(ref, "data:") {
			t.Errorf("the page references %q: want a relative URL of an embedded asset", ref)
			continue
		}
		assets++
		w := serve(t, h, http.MethodGet, "/"+ref)
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("GET /%s (referenced by the page): status %d, %d bytes", ref, w.Code, w.Body.Len())
			continue
		}
		ext := ref[strings.LastIndex(ref, "."):]
		if ct := w.Header().Get("Content-Type"); ct != wantTypes[ext] {
			t.Errorf("GET /%s: Content-Type %q, want %q", ref, ct, wantTypes[ext])
		}
	}
	if assets < 5 { // favicon, two style sheets, two scripts
		t.Errorf("the page references %d assets, want at least 5: %q", assets, refs)
	}

	// Assets revalidate by ETag.
	w = serve(t, h, http.MethodGet, "/assets/app.js")
	etag := w.Header().Get("ETag")
	if etag == "" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("app.js: ETag %q, Cache-Control %q", etag, w.Header().Get("Cache-Control"))
	}
	if w := serve(t, h, http.MethodGet, "/assets/app.js", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("app.js with its ETag: %d, want 304", w.Code)
	}
	if w := serve(t, h, http.MethodGet, "/assets/app.js", "If-None-Match", `"other"`); w.Code != http.StatusOK {
		t.Errorf("app.js with another ETag: %d, want 200", w.Code)
	}
	for p, want := range map[string]string{"/assets/vendor/uplot/LICENSE": "text/plain; charset=utf-8", "/assets/vendor/uplot/README.md": "text/markdown; charset=utf-8"} {
		if w := serve(t, h, http.MethodGet, p); w.Code != http.StatusOK || w.Header().Get("Content-Type") != want {
			t.Errorf("GET %s: %d %q, want 200 %q", p, w.Code, w.Header().Get("Content-Type"), want)
		}
	}
}

// TestPageNoHTMLInjection checks the page's script never parses API text
// as HTML: it builds every element itself.
func TestPageNoHTMLInjection(t *testing.T) {
	js, err := web.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// emptySource is a Source with nothing: every list nil.
type emptySource struct{}

func (emptySource) Overview() Overview                  { return Overview{} }
func (emptySource) Batches(time.Time) []Batch           { return nil }
func (emptySource) Batch(time.Time) (BatchDetail, bool) { return BatchDetail{}, false }
func (emptySource) Workers() []Worker                   { return nil }
func (emptySource) Events(int64) []Event                { return nil }
func (emptySource) Graph() Graph                        { return Graph{} }
func (emptySource) Operators() []Operator               { return nil }
func (emptySource) Lookup(ctx context.Context, q Query) (StateEntries, error) {
	return StateEntries{}, nil
}
