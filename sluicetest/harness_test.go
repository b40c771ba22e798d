package sluicetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestTryRunReturnsBatchErrorWithoutFailingTheTest(t *testing.T) {
	errFull := errors.New("sink full")
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []int{1}, []int{2})
	n := 0
	sluice.ForeachBatch(in, func(context.Context, sluice.Dataset[int], time.Time) error {
		if n++; n == 2 {
			return errFull
		}
		return nil
	})
	if _, err := h.TryRun(1); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	if _, err := h.TryRun(1); !errors.Is(err, errFull) {
		t.Fatalf("second batch: err = %v, want %v", err, errFull)
	}
}

func TestManualClockWakesOnlyPassedWaiters(t *testing.T) {
	c := sluicetest.NewManualClock(sluicetest.Epoch)
	early, late := make(chan error, 1), make(chan error, 1)
	go func() { early <- c.WaitUntil(context.Background(), sluicetest.Epoch.Add(time.Second)) }()
	go func() { late <- c.WaitUntil(context.Background(), sluicetest.Epoch.Add(3*time.Second)) }()
	time.Sleep(10 * time.Millisecond) // let both register (not an assertion)
	c.Advance(2 * time.Second)
	if err := <-early; err != nil {
		t.Fatal(err)
	}
	select {
	case <-late:
		t.Fatal("a waiter for a later time woke up")
	case <-time.After(20 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitUntil(ctx, sluicetest.Epoch.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait returned %v", err)
	}
	c.Set(sluicetest.Epoch) // never backwards
	if !c.Now().Equal(sluicetest.Epoch.Add(2 * time.Second)) {
		t.Fatalf("clock moved backwards to %v", c.Now())
	}
	c.Advance(time.Second)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
}
