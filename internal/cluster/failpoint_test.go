package cluster

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestParseFailpoints(t *testing.T) {
	f, err := parseFailpoints(" map:3@worker-1, fetch:1 ,checkpoint:2@worker-0")
	if err != nil {
		t.Fatal(err)
	}
	want := []dieRule{{PointMap, 3, "worker-1"}, {PointFetch, 1, ""}, {PointCheckpoint, 2, "worker-0"}}
	if !slices.Equal(f.rules, want) {
		t.Fatalf("rules %+v, want %+v", f.rules, want)
	}
	if f, err := parseFailpoints(""); err != nil || len(f.rules) != 0 {
		t.Fatalf(`parseFailpoints("") = %+v, %v`, f, err)
	}
	for _, bad := range []string{"map", "map:0", "map:-1", "map:x", "reduce:1", "map:1,", ":1@w", "map:1;fetch:2",
		strings.Repeat("map:1,", maxDieRules) + "map:1"} {
		if _, err := parseFailpoints(bad); err == nil || !strings.Contains(err.Error(), DieEnv) {
			t.Errorf("parseFailpoints(%q) = %v, want an error naming %s", bad, err, DieEnv)
		}
	}
}

// A rule fires at the N-th time its worker reaches its point, and only
// then; other workers and points count apart.
func TestFailpointsReach(t *testing.T) {
	f, err := parseFailpoints("map:2@worker-1,fetch:1")
	if err != nil {
		t.Fatal(err)
	}
	var kills []string
	f.kill = func(why string) { kills = append(kills, why) }
	for _, step := range []struct{ worker, point string }{
		{"worker-0", PointMap}, {"worker-0", PointMap}, {"worker-0", PointMap}, // not named
		{"worker-1", PointMap}, {"worker-1", PointCheckpoint}, {"worker-1", PointMap}, {"worker-1", PointMap},
		{"worker-2", PointFetch}, {"worker-2", PointFetch}, {"worker-0", PointFetch},
	} {
		f.reach(step.worker, step.point)
	}
	want := []string{"worker-1 dies at map 2", "worker-2 dies at fetch 1", "worker-0 dies at fetch 1"}
	if !slices.Equal(kills, want) {
		t.Fatalf("kills %q, want %q", kills, want)
	}
}

// killSelf really kills the process with SIGKILL, after saying why on
// standard error. The test runs itself again as the victim.
func TestKillSelf(t *testing.T) {
	const victimEnv = "SLUICE_TEST_KILL_SELF"
	if os.Getenv(victimEnv) == "1" {
		killSelf("worker-9 dies at map 1")
		return // not reached
	}
	if runtime.GOOS == "windows" {
		t.Skip("no signals")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillSelf$")
	cmd.Env = append(os.Environ(), victimEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the victim exited with %v, want SIGKILL; output:\n%s", err, out)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the victim exited with %v, want SIGKILL; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "cluster: "+DieEnv+": worker-9 dies at map 1") {
		t.Fatalf("the victim did not say why it died; output:\n%s", out)
	}
	if strings.Contains(string(out), "PASS") {
		t.Fatalf("the victim went on after killSelf; output:\n%s", out)
	}
}
