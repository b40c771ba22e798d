package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// recvGraph is a resolver with one push receiver, node 7, whose blocks
// are ints; its receiver puts one block per call of next.
type recvGraph struct {
	registry
	next chan []int
}

func (g recvGraph) Lookup(id lineage.ID) (*lineage.Dataset, error) {
	if IsReceived(id) {
		return lineage.New(id, "block", ints{}, 1, ReadCached(nil)), nil
	}
	return g.registry.Lookup(id)
}

func (g recvGraph) Receiver(node int32) (ReceiveFunc, error) {
	if node != 7 {
		return nil, fmt.Errorf("no receiver %d", node)
	}
	return func(ctx context.Context, r *Receiving) {
		for {
			select {
			case b := <-g.next:
				_ = r.Put(ctx, r.NextID(), b)
			case <-ctx.Done():
				return
			}
		}
	}, nil
}

func TestReceiverBlocksAreCopiedAndMoveWithTheReceiver(t *testing.T) {
	var mu sync.Mutex
	var reps []BlockReport
	g := recvGraph{registry{lineage.NewRegistry()}, make(chan []int)}
	l, err := NewLocal(3, g, LocalConfig{Config: Config{OnBlock: func(r BlockReport) {
		mu.Lock()
		defer mu.Unlock()
		reps = append(reps, r)
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Driver.StartReceivers([]int32{7}); err != nil {
		t.Fatal(err)
	}
	where := func() string {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if w := l.Driver.Receivers()[7]; w != "" && len(l.Worker(w).ReceiverNodes()) == 1 {
				return w
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatal("the receiver did not start")
		return ""
	}
	first := where()
	g.next <- []int{1, 2, 3}
	waitReports := func(n int) BlockReport {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			if len(reps) >= n {
				r := reps[n-1]
				mu.Unlock()
				return r
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("no block report %d", n)
		return BlockReport{}
	}
	rep := waitReports(1)
	if rep.Records != 3 || len(rep.Workers) != 2 || rep.Workers[0] != first || rep.From != first || !IsReceived(rep.ID) {
		t.Fatalf("report %+v", rep)
	}
	// Both copies are where the report says.
	for _, w := range rep.Workers {
		v, ok, err := l.Worker(w).Blocks.Get(blockstore.ID{Dataset: rep.ID})
		if err != nil || !ok || len(v.([]int)) != 3 {
			t.Fatalf("block on %s: %v %v %v", w, v, ok, err)
		}
	}

	// The receiver's worker is lost: it moves, under a new incarnation,
	// and a late block of the old one is refused.
	if err := l.Driver.WorkerLost(first); err != nil {
		t.Fatal(err)
	}
	var second string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if w := l.Driver.Receivers()[7]; w != "" && w != first {
			second = w
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver did not move")
		}
		time.Sleep(time.Millisecond)
	}
	stale := l.Driver.ReceivedBlock(context.Background(), BlockReport{From: first, Node: 7, Incarnation: rep.Incarnation,
		ID: ReceivedID(7, rep.Incarnation, 99), Records: 1, Workers: []string{first}})
	if !errors.Is(stale, ErrReceiverStale) {
		t.Fatalf("a block of the lost worker's receiver: %v", stale)
	}
	where()
	g.next <- []int{4}
	rep2 := waitReports(2)
	if rep2.From != second || rep2.Incarnation == rep.Incarnation || rep2.Records != 1 {
		t.Fatalf("report after the move %+v (first %+v)", rep2, rep)
	}
	for _, w := range rep2.Workers {
		if w == first {
			t.Fatalf("a block copied to the lost worker: %+v", rep2)
		}
	}

	// A stop confirms once the receiver ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if late := l.Driver.StopReceivers(ctx); len(late) != 0 {
		t.Fatalf("receivers %v did not confirm their stop", late)
	}
}

func TestReceiverRateReachesTheReceiverAndMovesWithIt(t *testing.T) {
	g := recvGraph{registry{lineage.NewRegistry()}, make(chan []int)}
	l, err := NewLocal(3, g, LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A rate set before the receivers start is the one they start with.
	if err := l.Driver.SetReceiverRate(7, 500); err != nil {
		t.Fatal(err)
	}
	if err := l.Driver.StartReceivers([]int32{7}); err != nil {
		t.Fatal(err)
	}
	rateOn := func(want float64, not string) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			w := l.Driver.Receivers()[7]
			if w == "" || w == not {
				continue
			}
			l.Worker(w).mu.Lock()
			rc := l.Worker(w).receivers[7]
			l.Worker(w).mu.Unlock()
			if rc != nil && rc.r.Rate() == want {
				return w
			}
		}
		t.Fatalf("the receiver's rate did not become %v", want)
		return ""
	}
	first := rateOn(500, "")
	if err := l.Driver.SetReceiverRate(7, 120.5); err != nil {
		t.Fatal(err)
	}
	rateOn(120.5, "")
	if err := l.Driver.WorkerLost(first); err != nil {
		t.Fatal(err)
	}
	rateOn(120.5, first) // restarted elsewhere with the current rate
	if err := l.Driver.SetReceiverRate(7, 0); err != nil {
		t.Fatal(err)
	}
	rateOn(0, first)
}
