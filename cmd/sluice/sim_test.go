package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimRecoveryJSON(t *testing.T) {
	code, out, errs := runCmd("sim", "recovery", "--nodes", "5,20", "--loads", "0.3,0.8", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"seed", "nodes", "loads", "checkpoint_every", "batch_s", "parallel", "upstream_backup"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	var res simRecoveryResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Parallel) != 4 || len(res.UpstreamBackup) != 4 {
		t.Fatalf("want 4 runs per model: %s", out)
	}
	for i, p := range res.Parallel {
		u := res.UpstreamBackup[i]
		if p.Nodes != u.Nodes || p.Load != u.Load || p.LostBatches == 0 || p.RecoveryTasks <= p.RecoveryChains ||
			p.RecoveryChains == 0 || u.RecoveryChains != 0 || u.RebuiltAfterS <= 0 {
			t.Errorf("run %d: %+v against %+v", i, p, u)
		}
		if p.Load == 0.8 && !(p.RecoveryS < u.RecoveryS) {
			t.Errorf("%d nodes at load 0.8: parallel recovery %.2fs, upstream backup %.2fs", p.Nodes, p.RecoveryS, u.RecoveryS)
		}
	}
	// A 5-node cluster cannot carry load 0.8 on the 4 nodes left: parallel
	// recovery never comes, while the standby of upstream backup catches
	// up. The 20-node one recovers in parallel, faster.
	if p := res.Parallel[1]; p.Nodes != 5 || p.RecoveryS != -1 {
		t.Errorf("5 nodes at load 0.8 recovered in parallel: %+v", p)
	}
	if p := res.Parallel[3]; p.Nodes != 20 || p.RecoveryS <= 0 {
		t.Errorf("20 nodes at load 0.8 did not recover in parallel: %+v", p)
	}
}

func TestSimRecoveryTable(t *testing.T) {
	code, out, errs := runCmd("sim", "recovery", "--nodes", "5,20", "--loads", "0.3,0.8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"parallel recovery", "upstream backup", "5 nodes", "20 nodes", "0.8", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSimStragglers(t *testing.T) {
	code, out, errs := runCmd("sim", "stragglers", "--stragglers", "0,2", "--batches", "15", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res simStragglersResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if len(res.Runs) != 4 {
		t.Fatalf("want 4 runs: %s", out)
	}
	base, off, on := res.Runs[0], res.Runs[2], res.Runs[3]
	if off.Speculation || !on.Speculation || off.Stragglers != 2 {
		t.Fatalf("runs out of order: %s", out)
	}
	// Speculation brings the batch time back near the no-straggler time.
	if !(on.P50S < off.P50S) || on.P50S > 1.25*base.P50S {
		t.Errorf("p50: %.3fs without stragglers, %.3fs with 2 (speculation off), %.3fs (on)", base.P50S, off.P50S, on.P50S)
	}
}

// TestSimCharts writes both charts in both formats and checks that they
// are well formed, and that the same seed gives the same file.
func TestSimCharts(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, cmd string }{
		{"r.svg", "recovery"}, {"r.png", "recovery"}, {"r2.svg", "recovery"}, {"s.svg", "stragglers"}, {"s.png", "stragglers"},
	} {
		args := []string{"sim", c.cmd, "--chart", filepath.Join(dir, c.file), "--json"}
		if c.cmd == "recovery" {
			args = append(args, "--nodes", "5,20", "--loads", "0.3,0.8")
		} else {
			args = append(args, "--batches", "10", "--stragglers", "0,1")
		}
		if code, _, errs := runCmd(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
		return b
	}
	for _, name := range []string{"r.svg", "s.svg"} {
		b := bytes.TrimSpace(read(name))
		if !bytes.HasPrefix(b, []byte("<?xml")) && !bytes.HasPrefix(b, []byte("<svg")) || !bytes.HasSuffix(b, []byte("</svg>")) {
			t.Errorf("%s is not an SVG document: %.80q…", name, b)
		}
	}
	for _, name := range []string{"r.png", "s.png"} {
		img, err := png.Decode(bytes.NewReader(read(name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s is %v", name, b)
		}
	}
	if !bytes.Equal(read("r.svg"), read("r2.svg")) {
		t.Error("two charts from the same seed differ")
	}
	code, _, errs := runCmd("sim", "stragglers", "--chart", filepath.Join(dir, "s.gif"), "--batches", "5", "--stragglers", "0")
	if code != 1 || !strings.Contains(errs, ".svg or .png") {
		t.Errorf("a .gif chart: exit %d, %s", code, errs)
	}
}

func TestSimBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"sim"}, 2, "usage: sluice sim"},
		{[]string{"sim", "nope"}, 2, `unknown simulation "nope"`},
		{[]string{"sim", "recovery", "--loads", "0.5,x"}, 1, "not a list of positive numbers"},
		{[]string{"sim", "recovery", "--nodes", "1", "--loads", "0.5"}, 1, "a failure needs at least 2 nodes"},
		{[]string{"sim", "stragglers", "--stragglers", "-1"}, 1, "not a list of counts"},
	} {
		code, _, errs := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("sluice %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
}
