package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
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

// A worker that never finishes a task (stalled) does not hold jobs up:
// its attempts get backup copies elsewhere, the first result wins, the
// stalled copies are cancelled, results are right, and after three
// straggles the worker is excluded.
func TestSpeculationBeatsAStalledWorker(t *testing.T) {
	reg := lineage.NewRegistry()
	l, err := NewLocal(4, registry{reg}, LocalConfig{
		Config: Config{TickInterval: 5 * time.Millisecond, Scheduler: scheduler.Config{
			SpeculationMinDuration: 20 * time.Millisecond, ExcludeFor: time.Hour}},
		Stragglers: map[int]Straggle{1: {Stall: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	var calls atomic.Int64
	for i := 0; i < 4; i++ {
		sc := reg.Scope(1, int64(i+1))
		sum := modShuffle(sc, source(sc, 8, 5, &calls), 4)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := l.Driver.RunJob(ctx, sum, 1, collect)
		cancel()
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		want := make([]int, 4)
		for p := 0; p < 8; p++ {
			for k := 0; k < 5; k++ {
				want[(p*10+k)%4] += p*10 + k
			}
		}
		if fmt.Sprint(flatten(got)) != fmt.Sprint(want) {
			t.Fatalf("job %d: got %v, want %v", i, flatten(got), want)
		}
	}
	st := l.Driver.Stats()
	if st.Speculation.SpeculativeWon == 0 {
		t.Errorf("no backup copy won: %+v", st.Speculation)
	}
	if fmt.Sprint(st.Excluded) != "[local-1]" {
		t.Errorf("excluded %v, want [local-1] (counters %+v)", st.Excluded, st.Speculation)
	}
}
