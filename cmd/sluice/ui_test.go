package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/internal/ui"
	"github.com/sluicehq/sluice/internal/ui/uitest"
)

// uiLineRE finds the web UI's address in the demo's first line.
var uiLineRE = regexp.MustCompile(`(?m)^web UI: (http://127\.0\.0\.1:\d+/) `)

// TestWebUIOnLocalCluster drives the web UI in headless Chromium against
// the real demo on local-cluster[3] (a driver process and three worker
// processes): the charts fill and keep redrawing, a batch opens down to
// its tasks, the stream graph and a state lookup show, and a worker
// process killed with SIGKILL shows up as lost in the workers view and in
// the event log, followed by a recovery event, while the charts go on.
// It saves screenshots under the test's artifact directory (go test
// -artifacts -outputdir DIR keeps them).
func TestWebUIOnLocalCluster(t *testing.T) {
	uitest.Require(t) // before starting a cluster the test would not use
	// --duration is a backstop: the test stops the demo itself.
	p := start(t, "demo", "--master", "local-cluster[3]", "--batch", "500ms", "--rate", "4000",
		"--ui", "127.0.0.1:0", "--duration", "10m")
	d := &demoProcess{t: t, p: p}
	t.Cleanup(d.kill) // before start's cleanup: kills and waits

	base := d.waitUI()
	t.Logf("the demo serves its web UI at %s", base)
	b := uitest.Start(t) // closed before the demo is killed (cleanups run last first)
	b.Navigate(base)
	uitest.Eval[bool](b, `(window.sluiceTestMark = true)`) // a reload would lose it

	// charts: data, then more without a reload.
	b.WaitFor("the driver's header", `document.querySelector("#overview").textContent.includes("local-cluster[3]")`)
	b.WaitForPoints(3)
	waitChartsGrow(b, chartPoints(b), 2)
	if !uitest.Eval[bool](b, `window.sluiceTestMark === true`) {
		t.Fatal("the page reloaded to show new batches")
	}
	b.WaitFor("the batch table", `document.querySelectorAll("#batches tr[data-batch]").length >= 3`)
	b.Screenshot("overview")

	checkBatchView(t, b, base)
	checkGraphView(t, b, base)
	checkStateView(t, b)

	// A worker process killed: lost in the workers view and the event
	// log, a recovery event once a batch completes, and charts that go on.
	victim := pickWorker(t, base, p)
	t.Logf("killing worker %s (pid %d)", victim.Name, victim.PID)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("killing worker %s (pid %d): %v", victim.Name, victim.PID, err)
	}
	atKill := chartPoints(b)

	b.Click(`#tabs a[data-view="workers"]`)
	row := fmt.Sprintf(`document.querySelector('#workers tr[data-worker=%q]')`, victim.Name)
	b.WaitFor(victim.Name+" lost in the workers view", row+`?.dataset.state === "lost"`)
	b.WaitFor("the header's lost count", `document.querySelector("#overview").textContent.includes("1 lost")`)
	if lost := uitest.Eval[string](b, row+`.textContent`); !strings.Contains(lost, "lost") {
		t.Errorf("the lost worker's row reads %q", lost)
	}
	b.Screenshot("workers-after-kill")
	// The API keeps the lost worker's last known figures.
	var ws []ui.Worker
	getJSON(t, base+"api/workers", &ws)
	if i := slices.IndexFunc(ws, func(w ui.Worker) bool { return w.Name == victim.Name }); i < 0 ||
		ws[i].State != "lost" || ws[i].PID != victim.PID || ws[i].Cores != victim.Cores || ws[i].Tasks < victim.Tasks || ws[i].Lost.IsZero() {
		t.Errorf("lost worker %+v in /api/workers %+v", victim, ws)
	}

	b.Click(`#tabs a[data-view="events"]`)
	lostRow := fmt.Sprintf(`[...document.querySelectorAll('#events tr[data-kind="worker-lost"]')].find(r => r.textContent.includes(%q))`, victim.Name)
	b.WaitFor("the worker-lost event naming "+victim.Name, "!!"+lostRow)
	lostSeq := uitest.Eval[int](b, `Number(`+lostRow+`.dataset.seq)`)
	// The driver logs a recovery event when the first batch after the
	// loss completes (and one per stateful operator whose lost state it
	// recomputed): the one that names the batch is awaited.
	b.WaitFor("a recovery event after the loss", fmt.Sprintf(
		`[...document.querySelectorAll('#events tr[data-kind="recovery"]')].some(r => Number(r.dataset.seq) > %d && r.textContent.includes(%q) && r.textContent.includes("completed"))`,
		lostSeq, victim.Name))
	b.Screenshot("events")

	b.Click(`#tabs a[data-view="streaming"]`)
	waitChartsGrow(b, atKill, 4)
	b.Screenshot("overview-after-kill")
	b.FullScreenshot("overview-after-kill-full")

	if !uitest.Eval[bool](b, `window.sluiceTestMark === true`) {
		t.Error("the page reloaded")
	}
	b.CheckNoErrors()
	for _, e := range b.NetworkErrors() { // the driver was up all along
		t.Errorf("the browser failed to load: %s", e)
	}
	d.stop()
}

// demoProcess stops the demo started by a test: gracefully at the end of
// the test, with SIGKILL in its cleanup if the test ended before.
type demoProcess struct {
	t      *testing.T
	p      *process
	exited bool // p.done was received
}

// waitUI waits for the demo's first line and returns the web UI's URL.
func (d *demoProcess) waitUI() string {
	d.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m := uiLineRE.FindStringSubmatch(d.p.stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-d.p.done:
			d.exited = true
			d.t.Fatalf("the demo exited before serving its web UI: %v\nstdout: %s\nstderr:\n%s", err, d.p.stdout.String(), d.p.errors())
		case <-deadline:
			d.t.Fatalf("no web UI line from the demo within 60s\nstdout: %s\nstderr:\n%s", d.p.stdout.String(), d.p.errors())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the demo with SIGTERM, as Ctrl-C would, and checks that it
// exits cleanly and takes its worker processes with it.
func (d *demoProcess) stop() {
	d.t.Helper()
	if err := d.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatalf("stopping the demo: %v", err)
	}
	err := d.p.wait(d.t, 60*time.Second)
	d.exited = true
	if err != nil {
		d.t.Errorf("the demo, stopped with SIGTERM: %v\nstderr:\n%s", err, d.p.errors())
	}
	assertGone(d.t, d.p.workerPIDs(), 10*time.Second)
}

// kill is the test's cleanup: the demo and its workers are gone when it
// returns, whatever happened.
func (d *demoProcess) kill() {
	if !d.exited {
		_ = d.p.cmd.Process.Kill()
		select {
		case <-d.p.done:
		case <-time.After(30 * time.Second):
			d.t.Errorf("the demo (pid %d) did not exit within 30s of SIGKILL", d.p.cmd.Process.Pid)
		}
		d.exited = true
	}
	pids := d.p.workerPIDs()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := slices.DeleteFunc(slices.Clone(pids), func(pid int) bool { return !alive(pid) })
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Errorf("worker processes %v still running 10s after SIGKILL", left)
			return
		}
	}
}

// chartPoints reads each chart's number of points.
func chartPoints(b *uitest.Browser) map[string]int {
	return uitest.Eval[map[string]int](b,
		`Object.fromEntries(`+jsList(uitest.Charts)+`.map(id => [id, Number(document.getElementById(id).dataset.points)]))`)
}

// waitChartsGrow waits until every chart has at least more points than
// in before: the page redraws them as batches complete.
func waitChartsGrow(b *uitest.Browser, before map[string]int, more int) {
	for _, id := range uitest.Charts {
		b.WaitFor(fmt.Sprintf("%d more points in %s (from %d)", more, id, before[id]),
			fmt.Sprintf(`Number(document.getElementById(%q).dataset.points) >= %d`, id, before[id]+more))
	}
}

func jsList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// getJSON reads an API answer of the driver.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// checkBatchView clicks the newest batch of the table and checks that its
// jobs and tasks show, as many as the API has.
func checkBatchView(t *testing.T, b *uitest.Browser, base string) {
	t.Helper()
	clickBatch(t, b)
	hash := uitest.Eval[string](b, `location.hash`)
	ms := strings.TrimPrefix(hash, "#/batch/")
	var d ui.BatchDetail
	getJSON(t, base+"api/batches/"+ms, &d)
	tasks := 0
	for _, j := range d.Jobs {
		for _, s := range j.Stages {
			tasks += len(s.Tasks)
		}
	}
	if len(d.Jobs) == 0 || tasks == 0 {
		t.Fatalf("batch %s has %d jobs and %d tasks in the API", ms, len(d.Jobs), tasks)
	}
	b.WaitFor(fmt.Sprintf("the %d tasks of batch %s", tasks, ms),
		fmt.Sprintf(`document.querySelectorAll("#view-batch tr.task").length === %d`, tasks))
	if n := uitest.Eval[int](b, `document.querySelectorAll("#view-batch details.job").length`); n != len(d.Jobs) {
		t.Errorf("%d jobs shown for batch %s, want %d", n, ms, len(d.Jobs))
	}
	// Every task ran on a worker and says so.
	if bad := uitest.Eval[[]string](b, `[...document.querySelectorAll("#view-batch tr.task")].filter(r => !/worker-\d+/.test(r.children[2].textContent)).map(r => r.textContent)`); len(bad) > 0 {
		t.Errorf("task rows without their worker: %q", bad)
	}
	b.Screenshot("batch")
}

// clickBatch clicks the link of the newest batch row. The table is drawn
// again as batches complete (twice a second here), so a click may find
// its row replaced between locating and clicking it: it is tried again
// until the page shows a batch.
func clickBatch(t *testing.T, b *uitest.Browser) {
	t.Helper()
	const link = `#batches tr[data-batch] a`
	var errs []string
	for range 10 {
		ctx, cancel := context.WithTimeout(b.Context(), uitest.Wait)
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link)))
		cancel()
		if err == nil && strings.HasPrefix(uitest.Eval[string](b, `location.hash`), "#/batch/") {
			return
		}
		errs = append(errs, fmt.Sprint(err))
	}
	t.Fatalf("clicking a batch row did not open it: %q", errs)
}

// checkGraphView opens the stream graph and checks that it draws every
// node and edge of the API's graph, the named stateful operator included.
func checkGraphView(t *testing.T, b *uitest.Browser, base string) {
	t.Helper()
	var g ui.Graph
	getJSON(t, base+"api/graph", &g)
	if len(g.Nodes) == 0 {
		t.Fatal("the API's stream graph has no node")
	}
	b.Click(`#tabs a[data-view="graph"]`)
	b.WaitFor(fmt.Sprintf("the graph's %d nodes", len(g.Nodes)),
		fmt.Sprintf(`document.querySelectorAll("#graph svg g[data-node]").length === %d`, len(g.Nodes)))
	if n := uitest.Eval[int](b, `document.querySelectorAll("#graph svg path.edge").length`); n != len(g.Edges) {
		t.Errorf("%d edges drawn, want %d", n, len(g.Edges))
	}
	if !uitest.Eval[bool](b, `[...document.querySelectorAll("#graph g.node.stateful")].some(n => n.textContent.includes("advertiser-spend"))`) {
		t.Error("no stateful node named advertiser-spend in the graph")
	}
	// The demo's operators and types fit their nodes whole (its types
	// shown without import paths).
	if cut := uitest.Eval[[]string](b, `[...document.querySelectorAll("#graph g.node :is(.kind, .nname, .ntype)")].map(t => t.textContent).filter(s => s.endsWith("…") || s.includes("/"))`); len(cut) > 0 {
		t.Errorf("node labels cut short or with import paths: %q", cut)
	}
	b.Screenshot("graph")
}

// checkStateView looks up a sample of advertiser-spend's state through the
// form, then one of its keys.
func checkStateView(t *testing.T, b *uitest.Browser) {
	t.Helper()
	const op = "advertiser-spend"
	form := fmt.Sprintf(`form[data-lookup=%q]`, op)
	entries := fmt.Sprintf(`document.querySelectorAll('[data-lookup-result=%q] tr.entry')`, op)
	b.Click(`#tabs a[data-view="state"]`)
	b.WaitFor("the advertiser-spend operator", fmt.Sprintf(`!!document.querySelector('#operators tr[data-operator=%q]')`, op))
	b.SetValue(form+` input[name="sample"]`, "5")
	b.Click(form + ` button[value="sample"]`)
	b.WaitFor("a sample of 5 keys", entries+`.length === 5`)
	keys := uitest.Eval[[]string](b, `[...`+entries+`].map(r => JSON.parse(r.querySelector("code").textContent))`)
	for _, k := range keys {
		if !strings.HasPrefix(k, "adv-") {
			t.Errorf("sampled key %q is not an advertiser", k)
		}
	}
	b.SetValue(form+` input[name="key"]`, keys[0])
	b.Click(form + ` button[value="key"]`)
	b.WaitFor("the entry of "+keys[0], fmt.Sprintf(`%s.length === 1 && %s[0].textContent.includes(%q)`, entries, entries, keys[0]))
	spend := uitest.Eval[float64](b, `JSON.parse(`+entries+`[0].querySelector("pre").textContent)`)
	if spend <= 0 {
		t.Errorf("advertiser %s has spent %v", keys[0], spend)
	}
	b.Screenshot("state")
}

// pickWorker returns a live worker of the demo, with the PID of a worker
// process the test saw join (the test kills it: it must be one of its
// own).
func pickWorker(t *testing.T, base string, p *process) ui.Worker {
	t.Helper()
	var ws []ui.Worker
	getJSON(t, base+"api/workers", &ws)
	own := p.workerPIDs()
	for _, w := range ws {
		if w.State == "alive" && w.PID > 0 && slices.Contains(own, w.PID) {
			return w
		}
	}
	t.Fatalf("no live worker among %+v has the PID of a worker the demo started (%v)", ws, own)
	return ui.Worker{}
}
