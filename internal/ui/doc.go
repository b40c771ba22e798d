// Package ui is the driver's web UI: live charts of every batch's input
// rate and delays, the batch table down to tasks, workers, the event log,
// the stream graph and the state of stateful operators, served as JSON
// under /api/ and as one embedded page (no build step).
//
// The driver implements Source; Handler serves it. Nothing in the engine
// depends on this package.
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /metrics", metricsHandler)
//	mux.Handle("GET /status", statusHandler)
//	mux.Handle("/", ui.Handler(src)) // "/", /assets/..., /api/...; 404 for the rest
//
// The page (web/: index.html, app.js, style.css) is plain JavaScript that
// polls the API every second. Its charts use uPlot, vendored in
// web/vendor/uplot (see its README.md): small (50 kB), dependency-free and
// made for streaming time series, as DESIGN.md section 9 asks. The
// browser tests drive Debian's Chromium with chromedp through the helpers
// of package uitest.
package ui
