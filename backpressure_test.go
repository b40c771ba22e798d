package sluice_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// arrivalGen makes "i@ms": record i and its event time in ms from the
// epoch, each record's time interpolated over its span as generators do.
var arrivalGen = sluice.GeneratorFunc[string](func(from, to int64, start, end time.Time) []string {
	var out []string
	for i := from; i < to; i++ {
		at := start.Add(time.Duration(int64(end.Sub(start)) * (i - from) / (to - from)))
		out = append(out, fmt.Sprintf("%d@%d", i, at.Sub(sluicetest.Epoch).Milliseconds()))
	}
	return out
})

func TestMaxRateGenerate(t *testing.T) {
	// 10 records/s arrive, 4 per batch may be read: the backlog grows by
	// 6 a batch, and each record keeps the time it arrived at (i × 100ms).
	h := sluicetest.New(t, time.Second, sluice.MaxRate(4), sluice.Master("local[2]"))
	out := sluicetest.Collect(sluice.Generate(h.Context, arrivalGen, 10))
	infos := h.Run(4)
	want := [][]string{}
	for k := range 4 {
		var b []string
		for i := 4 * k; i < 4*k+4; i++ {
			b = append(b, fmt.Sprintf("%d@%d", i, i*100))
		}
		want = append(want, b)
	}
	assertBatches(t, out.Batches(), want)
	for _, i := range infos {
		if i.Records != 4 {
			t.Fatalf("batch %v: %d records, want 4", i.Time, i.Records)
		}
	}
	st := h.Context.Status().Inputs
	if len(st) != 1 || st[0].Input != "Generate#0" || st[0].RateLimit != 4 || !st[0].Backpressure {
		t.Fatalf("status inputs %+v, want Generate#0 limited to 4/s", st)
	}
}

func TestMaxRateNotBindingChangesNothing(t *testing.T) {
	// The same batches as TestGenerate's: a limit above the rate, or none
	// (NoBackpressure), reads what arrives.
	for _, opt := range []sluice.Option{sluice.MaxRate(1000), sluice.NoBackpressure()} {
		h := sluicetest.New(t, 500*time.Millisecond, opt, sluice.Master("local[2]"))
		out := sluicetest.Collect(sluice.Generate(h.Context, arrivalGen, 6))
		h.Run(3)
		assertBatches(t, out.Batches(), batches(
			[]string{"0@0", "1@166", "2@333"},
			[]string{"3@500", "4@666", "5@833"},
			[]string{"6@1000", "7@1166", "8@1333"}))
	}
}

func TestMaxRateGenerateReadsInOrder(t *testing.T) {
	// 15/s in 100ms batches arrive 1, 2, 1, 2, … a batch; at 10/s, one
	// record a batch may be read: every record in order, none twice or
	// skipped, the backlog growing.
	h := sluicetest.New(t, 100*time.Millisecond, sluice.MaxRate(10))
	out := sluicetest.Collect(sluice.Generate(h.Context, arrivalGen, 15))
	h.Run(6)
	var sizes []int
	next := 0
	for _, b := range out.Batches() {
		sizes = append(sizes, len(b))
		for _, r := range b {
			if want := fmt.Sprintf("%d@", next); !strings.HasPrefix(r, want) {
				t.Fatalf("record %q, want record %d next", r, next)
			}
			next++
		}
	}
	if fmt.Sprint(sizes) != "[1 1 1 1 1 1]" {
		t.Fatalf("records per batch %v, want one each", sizes)
	}
}

func TestMaxRateTextFiles(t *testing.T) {
	// 5 lines a batch: whole files in name order while they fit, one at
	// least.
	dir, staging := t.TempDir(), t.TempDir()
	h := sluicetest.New(t, time.Second, sluice.MaxRate(5))
	out := sluicetest.Collect(sluice.TextFiles(h.Context, dir))
	h.Run(1)
	moveIn(t, staging, dir, "a.txt", "a1\na2\na3\n")
	moveIn(t, staging, dir, "b.txt", "b1\nb2\nb3\n")
	moveIn(t, staging, dir, "c.txt", "c1") // no final newline: still a line
	moveIn(t, staging, dir, "d.txt", "d1\nd2\nd3\nd4\nd5\nd6\nd7\n")
	infos := h.Run(3)
	moveIn(t, staging, dir, "e.txt", "e1\n")
	h.Run(2)
	assertBatches(t, out.Batches(), batches(nil,
		[]string{"a1", "a2", "a3"},
		[]string{"b1", "b2", "b3", "c1"},
		[]string{"d1", "d2", "d3", "d4", "d5", "d6", "d7"},
		[]string{"e1"}, nil))
	if infos[0].Records != 3 || infos[1].Records != 4 || infos[2].Records != 7 {
		t.Fatalf("records %d, %d, %d; want 3, 4, 7", infos[0].Records, infos[1].Records, infos[2].Records)
	}
}

func TestHTTPTextOverItsRateAnswers429(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	h := sluicetest.New(t, time.Second, sluice.MaxRate(10))
	out := sluicetest.Collect(sluice.HTTPText(h.Context, addr))
	h.Run(1)
	url := "http://" + addr + "/"
	waitListening(t, url)
	body := strings.Repeat("x\n", 10)
	if code, b := post(t, url, body); code != http.StatusOK {
		t.Fatalf("first POST within the rate: %d %q", code, b)
	}
	// 10 more records at once: not before a second at 10/s.
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("POST over the rate: %d, Retry-After %q; want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := h.Context.ReceivedRecords(); got != 10 {
		t.Fatalf("%d records stored, want the first request's 10", got)
	}
	// Once the bucket refilled, the sender is served again.
	time.Sleep(1100 * time.Millisecond)
	if code, b := post(t, url, body); code != http.StatusOK {
		t.Fatalf("POST after Retry-After: %d %q", code, b)
	}
	h.Run(1)
	if n := len(out.Batches()[1]); n != 20 {
		t.Fatalf("%d records in the batch, want 20", n)
	}
}

func TestSocketTextOverItsRateSlowsTheSender(t *testing.T) {
	// At 50 lines/s, a sender of 20 MB of lines (more than the sockets'
	// buffers hold) is still blocked after a second, and the receiver took
	// about a second's worth.
	srv := newLineServer(t)
	defer srv.close()
	h := sluicetest.New(t, time.Second, sluice.MaxRate(50))
	addr := sameAddr(t, srv.ln.Addr().String())
	sluicetest.Collect(sluice.SocketText(h.Context, addr))
	h.Run(1)
	conn := srv.accept(t)
	defer conn.Close()
	line := strings.Repeat("y", 99) + "\n"
	chunk := []byte(strings.Repeat(line, 10000)) // 1 MB
	var sent atomic.Int64
	done := make(chan struct{})
	go func() { // owned here: ends when conn closes
		defer close(done)
		for range 20 {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-done:
		t.Fatalf("the sender wrote all %d bytes at once", sent.Load())
	default:
	}
	// 50 at once (a batch's burst), then 50/s; the last block is cut
	// every 200ms.
	if got := h.Context.ReceivedRecords(); got > 50+2*50+20 {
		t.Fatalf("%d lines taken in 1.5s at 50/s", got)
	}
	conn.Close()
	<-done
}

// overloaded runs, on the wall clock, a Generate source at 4,000 records/s
// through a Map that sleeps 1ms per record on 2 workers (at most 2,000
// records/s), for d, and returns its batches.
func overloaded(t *testing.T, d time.Duration, opts ...sluice.Option) []sluice.BatchInfo {
	var mu sync.Mutex
	var infos []sluice.BatchInfo
	c, err := sluice.NewContext(append([]sluice.Option{sluice.Master("local[2]"), sluice.Batch(200 * time.Millisecond),
		sluice.OnBatch(func(b sluice.BatchInfo) {
			mu.Lock()
			defer mu.Unlock()
			infos = append(infos, b)
		})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	slow := sluice.Map(sluice.Generate(c, sluice.TextGenerator(1), 4000), func(s string) int {
		time.Sleep(time.Millisecond)
		return len(s)
	})
	sluice.ForeachBatch(sluice.Count(slow), func(ctx context.Context, d sluice.Dataset[int64], _ time.Time) error {
		_, err := d.Collect(ctx)
		return err
	})
	if err := sluice.RunUntilDone(context.Background(), c, d); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return infos
}

func TestBackpressureBoundsSchedulingDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two jobs for 6s each on the wall clock")
	}
	skipOnCluster(t, "measures one process's capacity")
	// The first batches, planned before the estimator has a rate (it
	// needs two completed batches), are read whole; then backpressure
	// holds the input near capacity and drains the delay, while without
	// it the delay grows by about a batch interval every batch.
	on := overloaded(t, 6*time.Second)
	off := overloaded(t, 6*time.Second, sluice.NoBackpressure())
	// The smallest scheduling delay of the last 5 batches: where the
	// delay stays, not a spike.
	settled := func(infos []sluice.BatchInfo) time.Duration {
		d := time.Duration(math.MaxInt64)
		for _, b := range infos[max(len(infos)-5, 0):] {
			d = min(d, b.SchedulingDelay)
		}
		return d
	}
	for _, b := range on {
		t.Logf("backpressure: %v records=%d scheduling=%v processing=%v", b.Time.Format("05.000"), b.Records, b.SchedulingDelay, b.ProcessingTime)
	}
	onDelay, offDelay := settled(on), settled(off)
	t.Logf("settled scheduling delay: %v with backpressure (%d batches), %v without (%d batches)", onDelay, len(on), offDelay, len(off))
	if offDelay < 1500*time.Millisecond {
		t.Errorf("without backpressure the scheduling delay settled at %v: the job was not overloaded", offDelay)
	}
	if onDelay > time.Second || onDelay > offDelay/2 {
		t.Errorf("with backpressure the scheduling delay settled at %v (without: %v), want under 1s and half", onDelay, offDelay)
	}
}
