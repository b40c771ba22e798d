package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// helperEnv set in the environment makes the test binary a helper process
// (runHelper) instead of running tests: the tests start writers in other
// processes, to share a Dir across processes and to kill one mid-write.
const helperEnv = "CHECKPOINT_TEST_HELPER"

// The helper's parameters, in its environment.
const (
	helperDir  = "CHECKPOINT_TEST_DIR"
	helperID   = "CHECKPOINT_TEST_ID"   // which object the helper writes
	helperPuts = "CHECKPOINT_TEST_PUTS" // how many Puts
	helperSize = "CHECKPOINT_TEST_SIZE" // the object's size, before its ID is added
)

// helperObject is the object helper id writes: size+id bytes of value id,
// so that a reader can tell a whole one from a torn or mixed one.
func helperObject(id, size int) []byte {
	return bytes.Repeat([]byte{byte(id)}, size+id)
}

// checkHelperObject fails unless data is a whole helperObject(_, size).
func checkHelperObject(t *testing.T, data []byte, size int) {
	t.Helper()
	if len(data) == 0 {
		t.Fatal("empty object")
	}
	id := int(data[0])
	if len(data) != size+id || bytes.Count(data, data[:1]) != len(data) {
		t.Fatalf("object of %d bytes starting with %d: not a whole object of writer %d (%d bytes)", len(data), id, id, size+id)
	}
}

// runHelper puts helperObject(ID, SIZE) under "hot/key" PUTS times in DIR,
// printing "ready" after the first Put, and returns the exit code.
func runHelper() int {
	env := func(name string) int {
		n, err := strconv.Atoi(os.Getenv(name))
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper: %s: %v\n", name, err)
			os.Exit(2)
		}
		return n
	}
	id, puts, size := env(helperID), env(helperPuts), env(helperSize)
	d, err := NewDir(os.Getenv(helperDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for i := range puts {
		if err := d.Put(context.Background(), "hot/key", helperObject(id+i%2, size)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		if i == 0 {
			fmt.Fprintln(out, "ready")
			out.Flush()
		}
	}
	return 0
}

// helperCmd returns the command of a helper writing in dir.
func helperCmd(t *testing.T, dir string, id, puts, size int) *exec.Cmd {
	cmd := exec.CommandContext(testContext(t), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		helperDir+"="+dir,
		fmt.Sprintf("%s=%d", helperID, id),
		fmt.Sprintf("%s=%d", helperPuts, puts),
		fmt.Sprintf("%s=%d", helperSize, size),
	)
	cmd.Stderr = os.Stderr
	return cmd
}
