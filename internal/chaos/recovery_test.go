package chaos

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestPlanRecovery(t *testing.T) {
	cfg := RecoveryConfig{Workers: 4, Keys: 1_000_000, Rate: 100_000, CheckpointEvery: 10 * time.Second,
		Batch: time.Second, KillAt: 0.5, After: 10 * time.Second}
	p, err := planRecovery(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every key has appeared after batch 10; the first checkpoint of the
	// full state is batch 20's; the kill 5.5 s after it; 10 s more.
	want := recoveryPlan{warm: 10, checkpoint: 20, kill: 5500 * time.Millisecond, batches: 20 + 5 + 10 + 1}
	if p != want {
		t.Errorf("plan %+v, want %+v", p, want)
	}
	cfg.Keys, cfg.CheckpointEvery, cfg.KillAt = 100, 2*time.Second, 0
	if p, _ = planRecovery(cfg); p.checkpoint != 4 || p.kill != 500*time.Millisecond {
		t.Errorf("small state: plan %+v, want the checkpoint of batch 4, the kill half a batch after it", p)
	}
	cfg.CheckpointEvery = 1500 * time.Millisecond
	if _, err := planRecovery(cfg); err == nil {
		t.Error("a checkpoint interval that is not a multiple of the batch interval was accepted")
	}
}

func TestMeasureRecovery(t *testing.T) {
	cfg := RecoveryConfig{Batch: time.Second}
	p := recoveryPlan{warm: 1}
	// Batches 1..8 at 1000 ms steps; the kill at 5500: batch 6 is late
	// by 1200 ms, batch 7 by 1100 ms, batch 8 on schedule.
	var log []batchLog
	for k, delay := range []int64{0, 300, 200, 200, 250, 200, 1200, 1100, 400} {
		if k == 0 {
			continue
		}
		log = append(log, batchLog{Batch: int64(k) * 1000, Done: int64(k)*1000 + delay, Proc: float64(delay), Value: 10})
	}
	var run RecoveryRun
	measureRecovery(cfg, p, log, time.UnixMilli(5500), &run)
	if !run.Recovered || run.RecoveryMS != 2900 {
		t.Errorf("recovery %v ms (recovered %v), want 2900", run.RecoveryMS, run.Recovered)
	}
	if run.NormalBatchMS != 200 || run.ExtraDelayMS != 1000 || run.MaxDelayMS != 1200 {
		t.Errorf("normal %v, extra %v, max %v; want 200, 1000, 1200", run.NormalBatchMS, run.ExtraDelayMS, run.MaxDelayMS)
	}
	if want := []float64{1200, 1100, 400}; !slices.Equal(run.DelaysMS, want) {
		t.Errorf("delays %v, want %v", run.DelaysMS, want)
	}
	if run.StateKeys != 10 || run.StateKeysEnd != 10 {
		t.Errorf("state keys %d and %d, want 10", run.StateKeys, run.StateKeysEnd)
	}
}

func TestKeyStrideCoversEveryKey(t *testing.T) {
	for _, n := range []uint64{1, 2, 10, 1000, 4096, 100_000} {
		s := keyStride(n)
		seen := make(map[uint64]bool)
		for i := uint64(0); i < n; i++ {
			seen[(i*s+3)%n] = true
		}
		if uint64(len(seen)) != n {
			t.Errorf("%d keys: stride %d reaches %d of them", n, s, len(seen))
		}
	}
}

func TestRecoveryBaseline(t *testing.T) {
	if r := RecoveryBaseline(context.Background(), 1000, 100_000, time.Second, 1, 3); r <= 0 {
		t.Errorf("baseline %v records/s, want > 0", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := RecoveryBaseline(ctx, 1000, 100_000, time.Second, 1, 3); r != 0 {
		t.Errorf("baseline with an ended context: %v records/s, want 0", r)
	}
}
