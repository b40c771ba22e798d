package sim

import (
	"encoding/json"
	"testing"
	"time"
)

func mustRun(t *testing.T, c Config) Result {
	t.Helper()
	res, err := Run(c)
	if err != nil {
		t.Fatalf("run %+v: %v", c, err)
	}
	return res
}

func TestSmoke(t *testing.T) {
	r := mustRun(t, Config{Seed: 1})
	b, _ := json.Marshal(r)
	t.Logf("%s", b)
	r = mustRun(t, Config{Seed: 1, FailAt: 15500 * time.Millisecond})
	b, _ = json.Marshal(r)
	t.Logf("%s", b)
}
