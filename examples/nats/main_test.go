package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRuns runs the example for a few batches on its embedded server: the
// counts add up to the events of the batches, at most all published.
func TestRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 3 s")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--duration", "3s", "--batch", "500ms", "--rate", "500", "--master", "local[2]"}, &out); err != nil {
		t.Fatal(err)
	}
	var published, counted int
	if _, err := fmt.Sscanf(out.String(), "published %d events; the counts add up to %d", &published, &counted); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if counted <= 0 || counted > published {
		t.Errorf("published %d events, counted %d: want 0 < counted <= published", published, counted)
	}
}
