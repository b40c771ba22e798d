package uitest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProcessesUsing checks the leak detector finds a process by a
// directory on its command line, and forgets it once it exited.
func TestProcessesUsing(t *testing.T) {
	dir := t.TempDir()
	// A shell waiting on its input: "read" is built in, so the shell
	// starts no child that could outlive it.
	cmd := exec.Command("/bin/sh", "-c", "read line || true", "--user-data-dir="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := processesUsing(dir); !slices.Equal(got, []int{cmd.Process.Pid}) {
		t.Errorf("processes using %s: %v, want [%d]", dir, got, cmd.Process.Pid)
	}
	if got := processesUsing(dir + "-other"); len(got) != 0 {
		t.Errorf("processes using another directory: %v, want none", got)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := processesUsing(dir); len(got) != 0 {
		t.Errorf("processes using %s after it exited: %v, want none", dir, got)
	}
}

func TestChromiumOutput(t *testing.T) {
	out := "[1:2:ERROR:dbus/bus.cc:405] Failed to connect to the bus\nreal problem\n"
	if got := chromiumOutput(out); got != "real problem\n" {
		t.Errorf("chromiumOutput: %q", got)
	}
	long := strings.Repeat("line\n", 100)
	if got := strings.Count(chromiumOutput(long), "\n"); got != 60 {
		t.Errorf("chromiumOutput keeps %d lines, want 60", got)
	}
}
