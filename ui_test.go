package sluice_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/ui"
	"github.com/sluicehq/sluice/sluicetest"
)

// getJSON decodes GET url into v and returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %d, body does not decode: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// The web UI's API shows every batch with its jobs, stages and tasks, the
// stream graph, and each stateful operator's key count, size, evictions
// and state by key — the figures checked against what the job computed.
func TestUIShowsBatchesTasksAndState(t *testing.T) {
	h := sluicetest.New(t, time.Second, sluice.HTTP("127.0.0.1:0"))
	in := sluicetest.Input(h, 2, []string{"a", "b", "c", "a"}, []string{"a", "b"}, []string{"c"})
	pairs := sluice.Map(in, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	// A key's count, removed once it reaches 3: batch 2 evicts "a".
	counts := sluice.UpdateStateByKey(pairs, func(k string, vs []int, s int, ok bool) (int, bool) {
		n := s + len(vs)
		return n, n < 3
	}, sluice.Named("counts"))
	sluicetest.Collect(counts)
	// A key's count, removed as it reaches 2: one eviction per batch.
	seen, _ := sluice.MapWithState(pairs, func(_ time.Time, k string, v sluice.Optional[int], st *sluice.State[int]) (string, bool) {
		n, _ := st.Get()
		if n+1 >= 2 {
			st.Remove()
		} else {
			st.Update(n + 1)
		}
		return k, true
	}, sluice.Named("pairs-seen"))
	sluicetest.Collect(seen)
	h.Run(3)
	base := "http://" + h.Context.HTTPAddr()

	var rows []ui.Batch
	getJSON(t, base+"/api/batches", &rows)
	if len(rows) != 3 || rows[0].InputRecords != 4 || rows[1].InputRecords != 2 || rows[2].InputRecords != 1 {
		t.Fatalf("batches %+v", rows)
	}
	var detail ui.BatchDetail
	if code := getJSON(t, fmt.Sprintf("%s/api/batches/%d", base, rows[0].Time.UnixMilli()), &detail); code != http.StatusOK {
		t.Fatalf("batch detail: %d", code)
	}
	tasks, maps := 0, 0
	for _, j := range detail.Jobs {
		for _, st := range j.Stages {
			if st.Map {
				maps++
			}
			for _, task := range st.Tasks {
				tasks++
				if task.Status != "ok" || task.Worker == "" || task.Launched.IsZero() {
					t.Errorf("job %d stage %s: task %+v", j.ID, st.Dataset, task)
				}
				if st.Map && task.Records > 0 && task.ShuffleWriteBytes <= 0 {
					t.Errorf("map task of %s wrote %d records and no bytes", st.Dataset, task.Records)
				}
			}
		}
	}
	if len(detail.Jobs) < 2 || maps == 0 || tasks != detail.Tasks || tasks == 0 {
		t.Errorf("batch 1: %d jobs, %d map stages, %d tasks listed of %d", len(detail.Jobs), maps, tasks, detail.Tasks)
	}

	var g ui.Graph
	getJSON(t, base+"/api/graph", &g)
	stateful := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Stateful {
			stateful[n.Name] = true
		}
	}
	if !stateful["counts"] || !stateful["pairs-seen"] || len(g.Edges) < len(g.Nodes)-1 {
		t.Errorf("graph: stateful %v, %d nodes, %d edges", stateful, len(g.Nodes), len(g.Edges))
	}

	var ops []ui.Operator
	getJSON(t, base+"/api/state", &ops)
	got := map[string]ui.Operator{}
	for _, o := range ops {
		got[o.Name] = o
	}
	// counts after batch 3: b=2, c=2 ("a" evicted at batch 2).
	if o := got["counts"]; o.Keys != 2 || o.Evictions != 0 || o.EvictionsTotal != 1 || !o.Batch.Equal(rows[2].Time) || o.Bytes <= 0 {
		t.Errorf("counts figures %+v", o)
	}
	// pairs-seen: a (batch 1), b (2), c (3) each reach 2 and are removed.
	if o := got["pairs-seen"]; o.Keys != 1 || o.Evictions != 1 || o.EvictionsTotal != 3 {
		t.Errorf("pairs-seen figures %+v", o)
	}

	var res ui.StateEntries
	getJSON(t, base+"/api/state/counts?key=b", &res)
	if len(res.Entries) != 1 || string(res.Entries[0].Key) != `"b"` || string(res.Entries[0].Value) != "2" || res.Partitions != 1 {
		t.Errorf("counts[b]: %+v", res)
	}
	getJSON(t, base+"/api/state/counts?key=a", &res)
	if len(res.Entries) != 0 {
		t.Errorf("evicted key a: %+v", res)
	}
	getJSON(t, base+"/api/state/counts?sample=10", &res)
	var keys []string
	for _, e := range res.Entries {
		keys = append(keys, string(e.Key)+"="+string(e.Value))
	}
	sort.Strings(keys)
	if strings.Join(keys, " ") != `"b"=2 "c"=2` {
		t.Errorf("counts sample %v", keys)
	}
	getJSON(t, base+"/api/state/pairs-seen?sample=10", &res)
	if len(res.Entries) != 1 || string(res.Entries[0].Key) != `"a"` || string(res.Entries[0].Value) != "1" {
		t.Errorf("pairs-seen sample %+v", res)
	}
	var e struct{ Error string }
	if code := getJSON(t, base+"/api/state/nothing?key=x", &e); code != http.StatusNotFound || e.Error == "" {
		t.Errorf("unknown operator: %d %q", code, e.Error)
	}

	var events []ui.Event
	getJSON(t, base+"/api/events", &events)
	if len(events) == 0 || events[0].Seq != 1 {
		t.Fatalf("events %+v", events)
	}
	driver := false
	for _, ev := range events {
		driver = driver || ev.Kind == ui.EventDriver
	}
	if !driver {
		t.Errorf("no driver event in %+v", events)
	}
}

// A key that does not parse as the operator's key type is a bad query.
func TestUIStateLookupRefusesBadKey(t *testing.T) {
	h := sluicetest.New(t, time.Second, sluice.HTTP("127.0.0.1:0"))
	in := sluicetest.Input(h, 1, []int{1, 2, 2})
	pairs := sluice.Map(in, func(k int) sluice.KV[int, int] { return sluice.Pair(k, 1) })
	sluicetest.Collect(sluice.UpdateStateByKey(pairs, func(k int, vs []int, s int, ok bool) (int, bool) {
		return s + len(vs), true
	}, sluice.Named("ints")))
	h.Run(0) // started, no batch yet
	base := "http://" + h.Context.HTTPAddr()
	var e struct{ Error string }
	if code := getJSON(t, base+"/api/state/ints?key=1", &e); code != http.StatusConflict {
		t.Errorf("lookup before the first batch: %d %q", code, e.Error)
	}
	h.Run(1)
	if code := getJSON(t, base+"/api/state/ints?key=two", &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "two") {
		t.Errorf("bad key: %d %q", code, e.Error)
	}
	var res ui.StateEntries
	getJSON(t, base+"/api/state/ints?key=2", &res)
	if len(res.Entries) != 1 || string(res.Entries[0].Value) != "2" {
		t.Errorf("ints[2]: %+v", res)
	}
}
