package scheduler

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// The scheduler starts no goroutines; goleak keeps it that way. Tests
// check the shortcuts against the plain way (crossCheck); benchmarks,
// which measure the shortcuts, do not.
func TestMain(m *testing.M) {
	flag.Parse()
	crossCheck = flag.Lookup("test.bench").Value.String() == ""
	goleak.VerifyTestMain(m)
}
