package ui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ui/uitest"
)

// TestBrowser drives the page in headless Chromium against a fake job
// that grows as the test goes: charts, batch drill-down, workers, events,
// the stream graph and state lookups. It saves screenshots of every view
// under the test's artifact directory.
func TestBrowser(t *testing.T) {
	uitest.Require(t)
	f := newFakeSource()
	for range 5 {
		f.addBatch()
	}
	f.addEvent(EventWorkerJoined, "worker-1", "worker-1 joined with 4 cores")
	f.addEvent(EventCheckpoint, "", "checkpoint of batch 5 written")
	// API text must reach the page as text, never as HTML.
	f.addEvent(EventDriver, "", `<img src=x onerror="window.injected=1"> not HTML`)
	// The server's handler can be swapped: the driver goes away and
	// another one replaces it.
	var h atomic.Pointer[http.Handler]
	setHandler := func(x http.Handler) { h.Store(&x) }
	setHandler(Handler(f))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close) // after the browser's cleanup: it closes first
	b := uitest.Start(t)

	b.Navigate(srv.URL + "/")
	// A mark that a reload would lose.
	uitest.Eval[bool](b, `(window.sluiceTestMark = true)`)

	// charts
	{
		waitPoints(b, 5)
		b.WaitFor("the header", `document.querySelector("#overview").textContent.includes("local-cluster[3]")`)
		b.WaitFor("the batch table", `document.querySelectorAll("#batches tr[data-batch]").length === 5`)
		// The batch interval is a series of the three delay charts.
		for _, id := range uitest.Charts[1:] {
			b.WaitFor(id+"'s batch interval line", fmt.Sprintf(`[...document.querySelectorAll("#%s .u-legend .u-series")].some(s => s.textContent.includes("batch interval"))`, id))
		}
		for range 3 {
			f.addBatch()
		}
		waitPoints(b, 8)
		b.WaitFor("the new batches in the table", `document.querySelectorAll("#batches tr[data-batch]").length === 8`)
		if !uitest.Eval[bool](b, `window.sluiceTestMark === true`) {
			t.Error("the page reloaded to show new batches")
		}
		b.Screenshot("streaming")
	}

	// batch
	{
		d := f.addBatch()
		waitPoints(b, 9)
		ms := strconv.FormatInt(d.Time.UnixMilli(), 10)
		b.Click(`#batches tr[data-batch="` + ms + `"] a`)
		b.WaitFor("the route of the batch", `location.hash === "#/batch/`+ms+`"`)
		b.WaitFor("the batch's tasks", fmt.Sprintf(`document.querySelectorAll("#view-batch tr.task").length === %d`, tasksPerBatch))
		if n := uitest.Eval[int](b, `document.querySelectorAll("#view-batch details.stage").length`); n != 3 {
			t.Errorf("%d stages shown, want 3", n)
		}
		if n := uitest.Eval[int](b, `document.querySelectorAll("#view-batch tr.task .badge.spec").length`); n != 1 {
			t.Errorf("%d speculative badges, want 1", n)
		}
		failed := uitest.Eval[string](b, `document.querySelector('#view-batch tr.task[data-status="failed"]').textContent`)
		if !strings.Contains(failed, "task panicked: <index out of range>") || !strings.Contains(failed, "worker-2") {
			t.Errorf("the failed task's row reads %q, want its worker and error", failed)
		}
		b.Screenshot("batch")
		// The batch is linkable: the route alone shows it.
		b.Navigate(srv.URL + "/#/batch/" + ms)
		b.WaitFor("the linked batch's tasks", fmt.Sprintf(`document.querySelectorAll("#view-batch tr.task").length === %d`, tasksPerBatch))
		b.SetHash("#/batch/12345")
		b.WaitFor("an unknown batch's error", `(document.querySelector("#batch-body .error") || {}).textContent?.includes("no batch at 12345")`)
	}

	// workers
	{
		b.Click(`#tabs a[data-view="workers"]`)
		b.WaitFor("three workers", `document.querySelectorAll("#workers tr[data-worker]").length === 3`)
		b.WaitFor("worker-3 draining", `document.querySelector('tr[data-worker="worker-3"]').dataset.state === "draining"`)
		f.setWorkerState("worker-2", "lost")
		f.addEvent(EventWorkerLost, "worker-2", "worker-2 lost: no heartbeat for 10s")
		b.WaitFor("worker-2 lost", `document.querySelector('tr[data-worker="worker-2"]').dataset.state === "lost"`)
		b.WaitFor("the header's lost count", `document.querySelector("#overview").textContent.includes("1 lost")`)
		b.Screenshot("workers")
	}

	// events
	{
		b.Click(`#tabs a[data-view="events"]`)
		b.WaitFor("the worker-lost event", `[...document.querySelectorAll('#events tr[data-kind="worker-lost"]')].some(r => r.textContent.includes("no heartbeat"))`)
		if first := uitest.Eval[string](b, `document.querySelector("#events tbody tr").dataset.kind`); first != EventWorkerLost {
			t.Errorf("the first row is a %q event, want the newest (worker-lost)", first)
		}
		if n := uitest.Eval[int](b, `document.querySelectorAll("#events tr[data-kind]").length`); n != 4 {
			t.Errorf("%d event rows, want 4", n)
		}
		text := uitest.Eval[string](b, `document.querySelector('#events tr[data-kind="driver"]').textContent`)
		if !strings.Contains(text, `<img src=x onerror="window.injected=1"> not HTML`) {
			t.Errorf("the driver event reads %q, want its message as text", text)
		}
		if uitest.Eval[bool](b, `document.querySelectorAll("main img").length > 0 || window.injected === 1`) {
			t.Error("an event's message was parsed as HTML")
		}
		b.Screenshot("events")
	}

	// graph
	{
		b.Click(`#tabs a[data-view="graph"]`)
		g := f.Graph()
		b.WaitFor("the graph's nodes", fmt.Sprintf(`document.querySelectorAll("#graph svg g[data-node]").length === %d`, len(g.Nodes)))
		if n := uitest.Eval[int](b, `document.querySelectorAll("#graph svg path.edge").length`); n != len(g.Edges) {
			t.Errorf("%d edges drawn, want %d", n, len(g.Edges))
		}
		// Layers: every edge goes right, each node one column past its
		// furthest input (longest path from the inputs).
		xs := uitest.Eval[map[string]float64](b, `Object.fromEntries([...document.querySelectorAll("#graph g[data-node]")].map(n => [n.dataset.node, n.transform.baseVal.consolidate().matrix.e]))`)
		col := func(id int) float64 { return xs[strconv.Itoa(id)] }
		for _, e := range g.Edges {
			if col(e.To) <= col(e.From) {
				t.Errorf("edge %d→%d does not go right: x %v → %v", e.From, e.To, col(e.From), col(e.To))
			}
		}
		if col(7) != col(6) || col(6) <= col(5) || col(0) != col(1) {
			t.Errorf("columns %v: want inputs 0 and 1 in the first, 6 and 7 together after 5", xs)
		}
		classes := uitest.Eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#graph g[data-node]")].map(n => [n.dataset.node, n.getAttribute("class")]))`)
		for id, want := range map[int]string{0: "input", 2: "plain", 6: "stateful", 8: "output"} {
			if !strings.Contains(classes[strconv.Itoa(id)], want) {
				t.Errorf("node %d has class %q, want %s", id, classes[strconv.Itoa(id)], want)
			}
		}
		b.Screenshot("graph")
	}

	// state
	{
		b.Click(`#tabs a[data-view="state"]`)
		b.WaitFor("the operators", `document.querySelectorAll("#operators tr[data-operator]").length === 2`)
		const counts = `form[data-lookup="counts"]`
		b.SetValue(counts+` input[name="key"]`, "a b&c=d/é")
		b.Click(counts + ` button[value="key"]`)
		b.WaitFor("the key's entry", `[...document.querySelectorAll('[data-lookup-result="counts"] tr.entry')].length === 1`)
		entry := uitest.Eval[string](b, `document.querySelector('[data-lookup-result="counts"] tr.entry').textContent`)
		if !strings.Contains(entry, `"a b&c=d/é"`) || !strings.Contains(entry, `"count": 1`) {
			t.Errorf("the entry reads %q", entry)
		}
		if q, _ := f.lastLookup(); q != (Query{Operator: "counts", Key: "a b&c=d/é", HasKey: true}) {
			t.Errorf("the page asked %+v", q)
		}
		b.SetValue(counts+` input[name="sample"]`, "2")
		b.Click(counts + ` button[value="sample"]`)
		b.WaitFor("a sample of two", `document.querySelectorAll('[data-lookup-result="counts"] tr.entry').length === 2`)
		if q, _ := f.lastLookup(); q != (Query{Operator: "counts", Sample: 2}) {
			t.Errorf("the page asked %+v", q)
		}
		// An operator before its first batch: the API's error shows.
		b.Click(`form[data-lookup="fresh"] button[value="key"]`)
		b.WaitFor("the no-state error", `(document.querySelector('[data-lookup-result="fresh"] .error') || {}).textContent?.includes("no state yet")`)
		if st := uitest.Eval[string](b, `document.querySelector('[data-lookup-result="fresh"] .error').dataset.status`); st != "409" {
			t.Errorf("the error shows status %q, want 409", st)
		}
		// The lookup form survives the table's refreshes, focus included
		// (someone may be typing a key).
		uitest.Eval[bool](b, `(document.querySelector('form[data-lookup="counts"] input[name="key"]').focus(), true)`)
		f.mu.Lock()
		f.ops[0].Keys = 99
		f.mu.Unlock()
		b.WaitFor("the new key count", `document.querySelector('tr[data-operator="counts"]').textContent.includes("99")`)
		if n := uitest.Eval[int](b, `document.querySelectorAll('[data-lookup-result="counts"] tr.entry').length`); n != 2 {
			t.Errorf("after a refresh the sample shows %d entries, want 2", n)
		}
		if !uitest.Eval[bool](b, `document.activeElement === document.querySelector('form[data-lookup="counts"] input[name="key"]')`) {
			t.Error("a refresh of the operators took the focus from the key input")
		}
		b.Screenshot("state")
	}

	// The overview, as a person first sees it.
	b.Click(`#tabs a[data-view="streaming"]`)
	f.addBatch()
	waitPoints(b, 10)
	b.Screenshot("ui")
	b.FullScreenshot("ui-full")

	// restart
	{
		// The driver goes away: the page says so and keeps polling.
		setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "driver stopped", http.StatusServiceUnavailable)
		}))
		b.WaitFor("the disconnected mark", `document.getElementById("conn").dataset.state === "down"`)
		// Another driver (restarted, its events numbered from 1 again):
		// the page starts over with it, without a reload.
		f2 := newFakeSource()
		f2.started = fakeStart.Add(time.Hour)
		f2.addBatch()
		f2.addBatch()
		f2.addEvent(EventDriver, "", "driver restarted from checkpoint")
		setHandler(Handler(f2))
		b.WaitFor("the live mark", `document.getElementById("conn").dataset.state === "live"`)
		waitPoints(b, 2)
		b.WaitFor("the new driver's batches", `document.querySelectorAll("#batches tr[data-batch]").length === 2`)
		b.WaitFor("the new driver's event", `document.querySelectorAll("#events tr[data-kind]").length === 1 && document.querySelector("#events tr[data-kind]").textContent.includes("restarted")`)
		if !uitest.Eval[bool](b, `window.sluiceTestMark === true`) {
			t.Error("the page reloaded")
		}
	}
	b.CheckNoErrors()
}

// waitPoints waits until every chart has n points.
func waitPoints(b *uitest.Browser, n int) {
	for _, id := range uitest.Charts {
		b.WaitFor(fmt.Sprintf("%d points in %s", n, id), fmt.Sprintf(`document.getElementById(%q).dataset.points === "%d"`, id, n))
	}
}
