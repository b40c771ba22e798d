package cluster

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/runtime"
)

// A worker that asks to be drained (as on SIGTERM) gets its blocks copied
// to the others over the network, is told to stop (Run returns nil) and
// leaves without being reported lost; the cached partitions it held are
// read from their copies: the lineage is cut, so nothing was recomputed.
func TestWorkerDrainsAndLeaves(t *testing.T) {
	lost := make(chan string, 4)
	c := newCluster(t, DriverConfig{OnWorkerLost: func(w string) { lost <- w }})
	ws := []*testWorker{c.addWorker(nil), c.addWorker(nil), c.addWorker(nil)}
	c.waitReady(3)
	open := make(chan struct{})
	close(open)
	var started atomic.Int64
	sc := c.reg.Scope(1, 1)
	src := source(sc, 6, 5, open, &started)
	src.Persist()
	first, err := c.d.Runtime.RunJob(testCtx(t), src, 1, collectAction())
	if err != nil {
		t.Fatal(err)
	}
	src.Truncate(runtime.ReadCached(src))
	victim := ws[0]
	for _, w := range ws[1:] {
		if w.runtime.Blocks.Stats().Blocks > victim.runtime.Blocks.Stats().Blocks {
			victim = w
		}
	}
	held := victim.runtime.Blocks.Stats().Blocks
	name := victim.testName(t)
	victim.Drain()
	select {
	case err := <-victim.done:
		if err != nil {
			t.Fatalf("Run of the drained worker: %v, want nil", err)
		}
		victim.done <- nil // for the cleanup's stop
	case <-time.After(20 * time.Second):
		t.Fatal("the drained worker was not released within 20s")
	}
	eventually(t, "the driver forgets the drained worker", func() bool {
		_, ok := c.workerInfo(name)
		return !ok && len(c.d.Workers()) == 2
	})
	st := c.d.Runtime.Stats()
	if st.Drained != 1 || st.BlocksMoved != int64(held) {
		t.Fatalf("drained %d, moved %d blocks, want 1 and %d", st.Drained, st.BlocksMoved, held)
	}
	again, err := c.d.Runtime.RunJob(testCtx(t), src, 1, collectAction())
	if err != nil {
		t.Fatalf("after the drain: %v", err)
	}
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("got %v, want %v", again, first)
	}
	if n := started.Load(); n != 6 {
		t.Fatalf("partitions computed %d times, want 6", n)
	}
	select {
	case w := <-lost:
		t.Logf("OnWorkerLost(%s) after the drain (state recovery finds nothing to do)", w)
	default:
	}
}
