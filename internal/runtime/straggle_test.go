package runtime

import (
	"context"
	"testing"
	"time"
)

// A slowed worker holds a task's result back (slowdown−1) times as long
// as the task ran; a stalled one until the task is cancelled; either ends
// at once when cancelled.
func TestStraggleHold(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	if !(Straggle{Slowdown: 3}).hold(ctx, 20*time.Millisecond) {
		t.Fatal("a slowed task that was not cancelled reported cancelled")
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("slowdown 3 after 20ms held %v, want at least 40ms", d)
	}
	if !(Straggle{}).hold(ctx, time.Hour) || !(Straggle{Slowdown: 1}).hold(ctx, time.Hour) {
		t.Error("no straggle held a task")
	}

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan bool)
	go func() { done <- (Straggle{Stall: true}).hold(cctx, 0) }()
	select {
	case <-done:
		t.Fatal("a stalled task ended before it was cancelled")
	case <-time.After(30 * time.Millisecond):
	}
	cancel()
	if <-done {
		t.Error("a cancelled stalled task reported that it was not cancelled")
	}
	if (Straggle{Slowdown: 1e6}).hold(cctx, time.Second) {
		t.Error("a cancelled slowed task reported that it was not cancelled")
	}
}
