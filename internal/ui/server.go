package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// web holds the page and its assets; they are served from memory.
//
//go:embed web
var web embed.FS

// DefaultSample is how many keys GET /api/state/{name} returns when the
// request names neither a key nor a sample size.
const DefaultSample = 20

// LookupTimeout bounds a state lookup (it may read state partitions from
// workers).
const LookupTimeout = 10 * time.Second

// asset is an embedded file ready to serve.
type asset struct {
	data        []byte
	contentType string
	// etag is a strong validator (a hash of data), so that browsers may
	// revalidate with If-None-Match and get 304.
	etag string
}

// server serves the UI of one Source.
type server struct {
	src Source
	// index is the page; assets are the files under web/, by their path
	// below web/ ("app.js", "vendor/uplot/uPlot.min.css").
	index  asset
	assets map[string]asset
}

// Handler serves the UI of src: the page at exactly "/", its assets under
// /assets/, and the JSON API under /api/. Every other path is 404, so the
// driver can mount other handlers (/metrics, /status) beside it on its own
// mux. The page uses relative URLs, so it also works below a path prefix
// (with http.StripPrefix).
func Handler(src Source) http.Handler {
	s := &server{src: src, assets: loadAssets()}
	idx, ok := s.assets["index.html"]
	if !ok {
		panic("ui: web/index.html is not embedded")
	}
	s.index = idx

	mux := http.NewServeMux()
	get := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc("GET "+pattern, h)
		// The same path with any other method: a JSON 405 (a pattern
		// with a method is more specific, so GET and HEAD never come
		// here).
		mux.HandleFunc(pattern, methodNotAllowed)
	}
	get("/{$}", s.page)
	get("/assets/{file...}", s.asset)
	get("/api/overview", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, src.Overview()) })
	get("/api/batches", s.batches)
	get("/api/batches/{t}", s.batch)
	get("/api/workers", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, orEmpty(src.Workers())) })
	get("/api/events", s.events)
	get("/api/graph", s.graph)
	get("/api/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, orEmpty(src.Operators())) })
	get("/api/state/{name}", s.state)
	apiNotFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("ui: no such API endpoint %q", r.URL.Path))
	}
	mux.HandleFunc("/api/", apiNotFound)
	// Without these, the mux would redirect /api and /assets to their
	// subtrees.
	mux.HandleFunc("/api", apiNotFound)
	mux.HandleFunc("/assets", http.NotFound)
	return mux
}

// contentTypes are the types of the assets, by extension. Fixed here
// rather than taken from package mime, which reads the host's tables (a
// host mapping .js to text/plain would break the page).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// loadAssets reads every embedded file under web/ into memory.
func loadAssets() map[string]asset {
	assets := make(map[string]asset)
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = http.DetectContentType(data)
		}
		sum := sha256.Sum256(data)
		assets[strings.TrimPrefix(p, "web/")] = asset{
			data:        data,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a bug.
		panic("ui: reading the embedded files: " + err.Error())
	}
	return assets
}

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "index.html", s.index)
}

func (s *server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	a, ok := s.assets[name]
	if !ok || name == "index.html" {
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, name, a)
}

// serveAsset serves a with no-cache: browsers keep it but revalidate it
// (cheaply, by its ETag) on every load, so a new driver binary's page is
// never mixed with an old script.
func serveAsset(w http.ResponseWriter, r *http.Request, name string, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}

func (s *server) batches(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		ms, err := parseCount("since", v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if ms > 0 {
			since = time.UnixMilli(ms)
		}
	}
	writeJSON(w, http.StatusOK, orEmpty(s.src.Batches(since)))
}

func (s *server) batch(w http.ResponseWriter, r *http.Request) {
	ms, err := parseCount("batch time", r.PathValue("t"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d, ok := s.src.Batch(time.UnixMilli(ms))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("ui: no batch at %d (unknown, or no longer kept)", ms))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = parseCount("after", v); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, orEmpty(s.src.Events(after)))
}

func (s *server) graph(w http.ResponseWriter, r *http.Request) {
	g := s.src.Graph()
	g.Nodes, g.Edges = orEmpty(g.Nodes), orEmpty(g.Edges)
	writeJSON(w, http.StatusOK, g)
}

func (s *server) state(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), LookupTimeout)
	defer cancel()
	e, err := s.src.Lookup(ctx, q)
	switch {
	case errors.Is(err, ErrUnknownOperator):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, ErrNoState):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, ErrBadQuery):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		e.Entries = orEmpty(e.Entries)
		writeJSON(w, http.StatusOK, e)
	}
}

// parseQuery reads GET /api/state/{name}'s parameters: key=K, or
// sample=N (1 to MaxSample, DefaultSample when neither is given).
func parseQuery(r *http.Request) (Query, error) {
	q := Query{Operator: r.PathValue("name")}
	params := r.URL.Query()
	if q.Operator == "" {
		return q, errors.New("ui: no operator name")
	}
	q.Key, q.HasKey = params.Get("key"), params.Has("key")
	sample := params.Get("sample")
	switch {
	case q.HasKey && params.Has("sample"):
		return q, errors.New("ui: give key or sample, not both")
	case q.HasKey:
		return q, nil
	case sample == "":
		if params.Has("sample") {
			return q, errors.New("ui: empty sample (want a number of keys, 1 to " + strconv.Itoa(MaxSample) + ")")
		}
		q.Sample = DefaultSample
		return q, nil
	}
	n, err := strconv.Atoi(sample)
	if err != nil || n < 1 || n > MaxSample {
		return q, fmt.Errorf("ui: bad sample %q (want a number of keys, 1 to %d)", sample, MaxSample)
	}
	q.Sample = n
	return q, nil
}

// parseCount parses a non-negative decimal integer parameter.
func parseCount(what, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("ui: bad %s %q (want a non-negative integer)", what, v)
	}
	return n, nil
}

// orEmpty makes a nil slice empty, so that it is [] in JSON, not null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("ui: method %s not allowed (only GET)", r.Method))
}

// apiError is the body of every error answer of the API.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// writeJSON encodes v before writing anything, so that an encoding
// failure is still a clean 500.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(apiError{Error: "ui: encoding the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}
