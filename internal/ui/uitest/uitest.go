// Package uitest drives a headless Chromium for the browser tests of the
// driver's web UI: it starts Debian's chromium with flags fit for a
// machine with a closed network, waits for conditions in the page (with a
// generous deadline, never a timed assertion), saves screenshots under the
// test's artifact directory, and makes sure no Chromium process outlives
// the test.
//
//	b := uitest.Start(t) // skips in -short mode or without Chromium
//	b.Navigate(srv.URL + "/")
//	b.WaitFor("the charts have points", `document.querySelector("#chart-input-rate").dataset.points > 0`)
//	b.Click(`tr[data-batch] a`)
//	b.Screenshot("batch")
//	b.CheckNoErrors() // no uncaught exception or console.error
//
// The page gives tests stable hooks (see Charts and WaitForPoints):
//
//   - each chart: id="chart-input-rate", "chart-scheduling-delay",
//     "chart-processing", "chart-total-delay", with data-points="N"
//     updated on every redraw;
//   - batch rows: #batches tr[data-batch="UNIX_MS"], linking to
//     #/batch/UNIX_MS, whose task rows are #view-batch tr.task
//     (data-status, data-partition);
//   - worker rows: tr[data-worker="NAME"][data-state="alive|excluded|draining|lost"];
//   - event rows: #events tr[data-kind="KIND"][data-seq="N"];
//   - graph nodes: #graph g[data-node="ID"], edges #graph path.edge;
//   - operators: tr[data-operator="NAME"]; its lookup form
//     form[data-lookup="NAME"] (input[name=key], input[name=sample],
//     button[value=key], button[value=sample]) and its answer
//     [data-lookup-result="NAME"] (tr.entry rows, or .error[data-status]);
//   - #conn[data-state="live|down"]: whether the last poll reached the
//     driver; views are the tabs #tabs a[data-view=...] and routes #/,
//     #/workers, #/events, #/graph, #/state.
//
// It uses github.com/chromedp/chromedp, the maintained pure-Go client of
// the Chrome DevTools Protocol (no WebDriver server, no Node): DESIGN.md
// section 9 names it for the browser tests.
package uitest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium is where Debian's chromium package puts the browser
// (scripts/chromium installs it).
const Chromium = "/usr/bin/chromium"

// RequireEnv names the environment variable that turns a missing Chromium
// from a skip into a failure (CI sets it).
const RequireEnv = "SLUICE_REQUIRE_CHROMIUM"

// Wait is how long a condition may take to hold: generous, because the
// machine may be loaded; tests poll for conditions and never assert
// durations.
const Wait = 30 * time.Second

// Width and Height are the window size: the UI must work at 1280×800.
const (
	Width  = 1280
	Height = 800
)

// Flags are Chromium's command-line flags (without "--"). The machine's
// network is closed: without the flags that stop background networking,
// QUIC, component updates and sync, Chromium stalls on connections that
// never complete.
var Flags = []string{
	"headless",
	"no-sandbox", // tests run as root in containers
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// startTimeout bounds Chromium's start-up (and the first blank page).
const startTimeout = 60 * time.Second

// leftoverWait is how long the processes of a closed browser may take to
// exit before the test reports them as leaked.
const leftoverWait = 10 * time.Second

// Require skips t in -short mode, and when Chromium is missing (failing
// instead when SLUICE_REQUIRE_CHROMIUM=1). It returns the browser's path.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("uitest: browser test skipped in -short mode")
	}
	if _, err := os.Stat(Chromium); err != nil {
		msg := fmt.Sprintf("uitest: no Chromium at %s (install it with scripts/chromium): %v", Chromium, err)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	return Chromium
}

// Browser is one headless Chromium with one tab, owned by a test: Start's
// cleanup closes it and waits for its processes.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab's context

	mu sync.Mutex
	// errors are the page's uncaught exceptions and console.error calls;
	// network are the failed loads the browser logged (an API answering
	// 404 or 409 on purpose shows up here too).
	errors  []string
	network []string
	// shots numbers the failure screenshots.
	shots int
}

// Start starts Chromium (see Require) with a fresh profile directory and
// opens a blank tab. The test's cleanup closes the browser, waits for it,
// and fails the test if any of its processes is left.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := Require(t)
	dataDir := t.TempDir() // removed after the cleanup below has run

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(Width, Height),
	)
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	var output syncBuffer
	opts = append(opts, chromedp.CombinedOutput(&output))

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser if still running, and waits for it
		if t.Failed() {
			if out := chromiumOutput(output.String()); out != "" {
				t.Logf("uitest: Chromium's output:\n%s", out)
			}
		}
		checkLeftovers(t, dataDir)
	})

	// The first action starts the browser; it must run on the tab's own
	// context (a shorter-lived one would end the browser with it), so a
	// timer bounds it instead.
	watchdog := time.AfterFunc(startTimeout, cancelAlloc)
	err := chromedp.Listen(ctx, b.listen)
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	}
	if !watchdog.Stop() {
		t.Fatalf("uitest: Chromium did not start within %v (output:\n%s)", startTimeout, output.String())
	}
	if err != nil {
		t.Fatalf("uitest: starting Chromium: %v (output:\n%s)", err, output.String())
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(Width, Height)); err != nil {
		t.Fatalf("uitest: setting the viewport: %v", err)
	}
	return b
}

// listen records the page's errors. It runs on the tab's reading
// goroutine, so it only appends under the lock.
func (b *Browser) listen(ev any) {
	var msg string
	var isNetwork bool
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = exceptionText(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *log.EventEntryAdded:
		if ev.Entry == nil || ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		isNetwork = ev.Entry.Source == log.EntrySourceNetwork
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if isNetwork {
		b.network = append(b.network, msg)
	} else {
		b.errors = append(b.errors, msg)
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "uncaught exception"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// Context is the tab's context, for chromedp actions the helpers lack.
// Bound each use with a timeout derived from it (context.WithTimeout):
// cancelling the derived context does not close the tab.
func (b *Browser) Context() context.Context { return b.ctx }

// Errors returns the page's uncaught exceptions and console.error calls so
// far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// NetworkErrors returns the failed loads the browser logged so far
// (including API answers with an error status).
func (b *Browser) NetworkErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.network...)
}

// CheckNoErrors fails the test for each uncaught exception or
// console.error of the page.
func (b *Browser) CheckNoErrors() {
	b.t.Helper()
	for _, e := range b.Errors() {
		b.t.Errorf("uitest: the page reported: %s", e)
	}
}

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.do("navigating to "+url, chromedp.Navigate(url))
}

// Click clicks the first element matching the CSS selector, waiting (up
// to Wait) for it to be visible.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.do("clicking "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// SetValue sets the value of the input matching the CSS selector.
func (b *Browser) SetValue(selector, value string) {
	b.t.Helper()
	b.do("setting "+selector, chromedp.SetValue(chromedp.CSS(selector), value))
}

// SetHash sets location.hash (a route of a single-page app) without
// reloading the page.
func (b *Browser) SetHash(hash string) {
	b.t.Helper()
	Eval[bool](b, fmt.Sprintf(`(location.hash = %s, true)`, strconv.Quote(hash)))
}

// WaitFor polls the JavaScript expression cond until it is truthy,
// failing the test (with a screenshot) if it is not within Wait. what
// says what is awaited, for the failure message.
func (b *Browser) WaitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Wait+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(Wait)))
	if err != nil {
		b.fail(fmt.Sprintf("waiting for %s (%s)", what, cond), err)
	}
}

// Eval evaluates the JavaScript expression expr in the page and decodes
// its value into T.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluating "+expr, err)
	}
	return v
}

func (b *Browser) do(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Wait)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test, with a screenshot of the page as it was and the
// page's errors.
func (b *Browser) fail(what string, err error) {
	b.t.Helper()
	b.mu.Lock()
	b.shots++
	name := fmt.Sprintf("failure-%d", b.shots)
	b.mu.Unlock()
	if path, serr := b.screenshot(name, false); serr == nil {
		b.t.Logf("uitest: screenshot of the failure: %s%s", path, keepHint())
	}
	for _, e := range b.Errors() {
		b.t.Logf("uitest: the page reported: %s", e)
	}
	b.t.Fatalf("uitest: %s: %v", what, err)
}

// Screenshot saves the visible part of the page (Width×Height) as
// NAME.png in the test's artifact directory (see testing.T.ArtifactDir:
// kept under -outputdir with go test -artifacts, a temporary directory
// otherwise) and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	path, err := b.screenshot(name, false)
	if err != nil {
		b.t.Fatalf("uitest: screenshot %s: %v", name, err)
	}
	b.t.Logf("uitest: screenshot %s%s", path, keepHint())
	return path
}

// keepHint says how to keep screenshots when they go to a temporary
// directory.
func keepHint() string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return ""
	}
	return " (removed after the test: go test -artifacts -outputdir DIR keeps it)"
}

// FullScreenshot is Screenshot of the whole page, scrolled parts included.
func (b *Browser) FullScreenshot(name string) string {
	b.t.Helper()
	path, err := b.screenshot(name, true)
	if err != nil {
		b.t.Fatalf("uitest: screenshot %s: %v", name, err)
	}
	b.t.Logf("uitest: screenshot %s%s", path, keepHint())
	return path
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (b *Browser) screenshot(name string, full bool) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, Wait)
	defer cancel()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.t.ArtifactDir(), safeName.ReplaceAllString(name, "_")+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// checkLeftovers fails t if processes started with the browser's profile
// directory are still running a while after the browser was closed (every
// Chromium process gets --user-data-dir, the crash handler a directory in
// it), and kills them: they are this test's.
func checkLeftovers(t testing.TB, dataDir string) {
	t.Helper()
	deadline := time.Now().Add(leftoverWait)
	for {
		pids := processesUsing(dataDir)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("uitest: %d Chromium processes outlived the browser by %v (killed): %v", len(pids), leftoverWait, pids)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesUsing lists the processes with an argument naming dir or a
// file in it (a zombie's command line is empty: it is gone).
func processesUsing(dir string) []int {
	want := []byte(dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.Contains(arg, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// chromiumOutput is the end of Chromium's output without the noise of a
// machine with no D-Bus.
func chromiumOutput(out string) string {
	var keep []string
	for line := range strings.Lines(out) {
		if !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	if len(keep) > 60 {
		keep = keep[len(keep)-60:]
	}
	return strings.Join(keep, "")
}

// Charts are the ids of the page's four charts.
var Charts = []string{"chart-input-rate", "chart-scheduling-delay", "chart-processing", "chart-total-delay"}

// WaitForPoints waits until each chart shows at least min points.
func (b *Browser) WaitForPoints(min int) {
	b.t.Helper()
	for _, id := range Charts {
		b.WaitFor(fmt.Sprintf("%d points in %s", min, id),
			fmt.Sprintf(`Number(document.getElementById(%q)?.dataset.points) >= %d`, id, min))
	}
}

// syncBuffer collects Chromium's output (written from chromedp's
// goroutines), keeping the last maxOutput bytes.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const maxOutput = 64 << 10

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if len(s.buf) > maxOutput {
		s.buf = append(s.buf[:0], s.buf[len(s.buf)-maxOutput:]...)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf)
}
