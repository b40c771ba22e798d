package ratecontrol

import (
	"context"
	"testing"
	"time"
)

func TestLimiterUnlimited(t *testing.T) {
	l := NewLimiter()
	for range 1000 {
		if ok, _ := l.Take(1000); !ok {
			t.Fatal("an unlimited limiter refused")
		}
	}
	if l.Rate() != 0 {
		t.Fatalf("Rate() = %v, want 0", l.Rate())
	}
}

func TestLimiterTake(t *testing.T) {
	l := NewLimiter()
	l.Set(10, 10)
	if ok, _ := l.Take(10); !ok {
		t.Fatal("a full bucket refused its burst")
	}
	ok, retry := l.Take(5)
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("Take(5) on an empty bucket at 10/s = %v, %v; want false and a wait up to 500ms", ok, retry)
	}
	// A refused take takes nothing: one record's wait, not six.
	if ok, retry := l.Take(1); ok || retry > 150*time.Millisecond {
		t.Fatalf("Take(1) = %v, %v; want false and about 100ms", ok, retry)
	}
	l.Set(0, 1)
	if ok, _ := l.Take(1 << 20); !ok {
		t.Fatal("Set(0) did not lift the limit")
	}
}

func TestLimiterTakeOverBurst(t *testing.T) {
	l := NewLimiter()
	l.Set(1000, 10)
	if ok, _ := l.Take(100); !ok {
		t.Fatal("a take over the burst was refused by a full bucket")
	}
	if ok, _ := l.Take(100); ok {
		t.Fatal("a take over the burst passed an empty bucket")
	}
}

func TestLimiterWait(t *testing.T) {
	l := NewLimiter()
	l.Set(1, 1)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("Wait at 1/s returned at once with an empty bucket")
	}
}
