package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Regression tests for bugs a review found (and which are fixed): each
// comment says what used to happen.

// Worker.Close while Run is active closes w.results under the command
// loop, which still sends on it (worker.go:196, after runtime.Launch fails
// on the closed runtime worker): "panic: send on closed channel", and a
// data race under -race. The heartbeat sender also reads zero results from
// the closed channel (worker.go:226) and sends them to the driver. Run it
// with -count=200 to see the panic.
func TestCloseDuringRun(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	c.addWorker(nil)
	w := c.newWorker(nil)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	c.waitReady(2)
	gate := make(chan struct{})
	sc := c.reg.Scope(1, 1)
	g := modGroup(sc, source(sc, 8, 5, gate, new(atomic.Int64)), 3)
	res := make(chan error, 1)
	go func() { _, err := c.d.Runtime.RunJob(testCtx(t), g, 1, collectAction()); res <- err }()
	eventually(t, "the worker runs a task", func() bool { return w.runtime.Running() > 0 })
	w.Close()
	<-done
	close(gate)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if n := c.d.Runtime.Stats().StaleResults; n != 0 {
		t.Errorf("the driver counted %d stale results", n)
	}
}

// Processes.Stop waits for the worker's standard error to reach EOF before
// it calls cmd.Wait (processes.go:90), and kills only the direct child: a
// grandchild holding stderr keeps Stop (and the report of an exit) waiting
// until the grandchild exits by itself — here 5 s, with no bound.
func TestStopDoesNotWaitForGrandchildren(t *testing.T) {
	p, _ := startShell(t, 1, "echo started >&2; sleep 5; echo done", nil)
	time.Sleep(100 * time.Millisecond) // let the shell fork sleep (setup, not an assertion)
	done := make(chan struct{})
	go func() {
		p.Stop(10 * time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Error("Stop has not returned 2s after killing the worker: it waits for the grandchild")
		<-done
	}
}

// Driver.session sets s.cancel (driver.go:298) after admit has published
// the session, and the monitor reads it (driver.go:456) without a lock: a
// data race under -race when a session is found silent at once.
func TestSessionCancelRace(t *testing.T) {
	c := newCluster(t, DriverConfig{WorkerTimeout: 2 * time.Microsecond})
	for range 20 {
		s := openRaw(t, c.d.Addr())
		if err := s.Send(&toDriver{Hello: &hello{Addr: "127.0.0.1:1", Slots: 1, Fingerprint: testFingerprint}}); err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
	}
}
