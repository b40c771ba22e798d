package main

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoPrintsOneTablePerBatch(t *testing.T) {
	code, out, errs := runCmd("demo", "--duration", "2s", "--batch", "200ms", "--master", "local[2]", "--rate", "5000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(out, "── batch"); n != 10 {
		t.Fatalf("%d batch tables, want 10:\n%s", n, out)
	}
	// The web UI's address comes first, before the first batch.
	lines := strings.SplitN(out, "\n", 3)
	if !webUIRE.MatchString(lines[0]) || !strings.HasPrefix(lines[1], "sluice demo: master local[2], batch 200ms") {
		t.Errorf("the demo starts with %q, want the web UI's address, then the settings", lines[:2])
	}
	if strings.Contains(errs, "\x1b[K") {
		t.Errorf("a status line on a standard error that is no terminal: %q", errs)
	}
	for _, want := range []string{"campaign", "advertiser", "spend so far", "flagged users", "1,000 events"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

var webUIRE = regexp.MustCompile(`^web UI: http://127\.0\.0\.1:\d+/  \(metrics: /metrics, status: /status\)$`)

func TestDemoServesItsUIOn4040(t *testing.T) {
	_, f, _ := demoFlags(io.Discard)
	if f.HTTP != "127.0.0.1:4040" {
		t.Errorf("the demo's web UI is on %q by default, want 127.0.0.1:4040", f.HTTP)
	}
}

func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-second benchmark")
	}
	code, out, errs := runCmd("bench", "grep", "--master", "local[2]", "--duration", "3s", "--batch", "500ms",
		"--rate", "20000", "--warmup", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"workload", "master", "batch_ms", "records", "records_per_sec", "records_per_sec_per_core",
		"processing_ms_p50", "processing_ms_p99", "total_delay_ms_p99", "cores"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	if r["workload"] != "grep" || r["master"] != "local[2]" || r["batch_ms"].(float64) != 500 {
		t.Errorf("unexpected figures: %s", out)
	}
	if r["records"].(float64) <= 0 || r["records_per_sec"].(float64) <= 0 {
		t.Errorf("no records measured: %s", out)
	}
}

// TestBenchNexmarkJSON runs a Nexmark query as the must-show
// command does, shorter, and checks the COST figures are there.
func TestBenchNexmarkJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-second benchmark")
	}
	code, out, errs := runCmd("bench", "nexmark", "--query", "q5", "--master", "local[2]", "--duration", "3s",
		"--batch", "500ms", "--rate", "20000", "--warmup", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if r["workload"] != "nexmark-q5" {
		t.Errorf("workload %v, want nexmark-q5", r["workload"])
	}
	for _, k := range []string{"records_per_sec_per_core", "baseline_records_per_sec", "cost_ratio"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("%s is %v, want a positive figure: %s", k, r[k], out)
		}
	}
}

func TestBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"bench", "nope"}, 2, `unknown workload "nope"`},
		{[]string{"bench"}, 2, "usage: sluice bench"},
		{[]string{"bench", "nexmark"}, 2, "--query is required"},
		{[]string{"bench", "nexmark", "--query", "q6"}, 2, `unknown workload "nexmark-q6"`},
		{[]string{"demo", "--master", "mars[3]"}, 1, `unknown master "mars[3]"`},
		{[]string{"demo", "--batch", "0s"}, 1, "batch interval"},
		{[]string{"demo", "extra"}, 2, "unexpected arguments"},
		{[]string{"bench", "recovery", "--keys", "1e5"}, 1, "not a list of positive integers"},
		{[]string{"bench", "recovery", "--checkpoint-every", "1500ms", "--batch", "1s"}, 1, "must be a multiple of the batch interval"},
	} {
		code, _, errs := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("sluice %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
}
