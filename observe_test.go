package sluice_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// The HTTP option serves Prometheus metrics and a JSON status on the
// driver; on a local-cluster every worker serves its own metrics too.
func TestMetricsAndStatus(t *testing.T) {
	h := sluicetest.New(t, time.Second, sluice.HTTP("127.0.0.1:0"))
	in := sluicetest.Input(h, 2, []string{"a b", "b"}, []string{"c"})
	counts := sluicetest.Collect(sluice.CountByValue(sluice.FlatMap(in, strings.Fields)))
	h.Run(2)
	if len(counts.Batches()) != 2 {
		t.Fatalf("batches %v", counts.Batches())
	}
	addr := h.Context.HTTPAddr()
	if addr == "" {
		t.Fatal("no HTTP address")
	}
	m := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{"sluice_batches_total 2", "sluice_input_records_total 3", "sluice_batch_processing_seconds_count 2",
		"sluice_tasks_launched_total", "sluice_workers "} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var st sluice.Status
	if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Batches) != 2 || st.Batches[0].InputRecords != 2 || st.Batches[1].InputRecords != 1 {
		t.Errorf("status batches %+v", st.Batches)
	}
	if len(st.Workers) == 0 || st.TasksLaunched == 0 {
		t.Errorf("status workers %+v, %d tasks launched", st.Workers, st.TasksLaunched)
	}
	for _, w := range st.Workers {
		if w.Metrics != "" && !strings.Contains(get(t, "http://"+w.Metrics+"/metrics"), "sluice_worker_tasks_total") {
			t.Errorf("worker %s serves no task counter", w.Name)
		}
	}
}
