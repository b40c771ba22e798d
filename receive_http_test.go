package sluice_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// freeAddr returns a loopback address nothing listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// post sends body and returns the status and the answer's body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitListening waits until the HTTPText receiver at url answers.
func waitListening(t *testing.T, url string) {
	t.Helper()
	waitFor(t, "the receiver to listen", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusMethodNotAllowed
	})
}

func TestHTTPText(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	h := sluicetest.New(t, time.Second)
	out := sluicetest.Collect(sluice.HTTPText(h.Context, addr))
	h.Run(1) // starts the receiver
	url := "http://" + addr + "/ingest"
	waitListening(t, url)

	// The answer comes once the block is stored.
	if code, body := post(t, url, "a\nb\r\nc"); code != http.StatusOK || strings.TrimSpace(body) != `{"records":3}` {
		t.Fatalf("POST: %d %q", code, body)
	}
	if got := h.Context.ReceivedRecords(); got != 3 {
		t.Fatalf("acknowledged, but %d records stored", got)
	}
	// Bad requests are refused whole, saying why.
	if code, body := post(t, url, "ok\n\xff\n"); code != http.StatusBadRequest || !strings.Contains(body, "line 2") {
		t.Fatalf("invalid UTF-8: %d %q", code, body)
	}
	if code, body := post(t, url, strings.Repeat("x", sluice.MaxLineBytes+1)); code != http.StatusBadRequest || !strings.Contains(body, "longer than") {
		t.Fatalf("long line: %d %q", code, body)
	}
	if code, _ := post(t, url, strings.Repeat("x\n", sluice.MaxRequestBytes/2+1)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	if code, body := post(t, url, "d\n"); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, body)
	}
	h.Run(1)
	assertBatches(t, out.Batches(), batches(nil, []string{"a", "b", "c", "d"}))
}

// TestHTTPTextSurvivesReceiverWorkerKill kills (SIGKILL) the worker
// process running an HTTPText receiver while a client sends: the receiver
// moves to another worker, and every record the client had an answer for
// is in the output, each once (a record is repeated only if its request
// got no answer and the client sent it again).
func TestHTTPTextSurvivesReceiverWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	addr := sameAddr(t, freeAddr(t))
	c, err := sluice.NewContext(sluice.Master("local-cluster[3]"), sluice.Batch(250*time.Millisecond),
		sluice.WorkerArgs("-test.run=^TestHTTPTextSurvivesReceiverWorkerKill$"), sluice.WorkerKey(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	in := sluice.HTTPText(c, addr)
	sluice.ForeachBatch(in, func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
		recs, err := d.Collect(ctx)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, recs...)
		return err
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url := "http://" + addr + "/"
	waitListening(t, url)

	acked := make(map[string]bool)
	retried := make(map[string]bool)
	var killed string
	afterKill := 0
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for req := 0; afterKill < 20; req++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered after the kill", afterKill)
		}
		var recs []string
		for i := range 5 {
			recs = append(recs, fmt.Sprintf("r%05d-%d", req, i))
		}
		for try := 0; ; try++ {
			if try > 0 {
				for _, r := range recs {
					retried[r] = true
				}
				time.Sleep(50 * time.Millisecond)
			}
			resp, err := client.Post(url, "text/plain", strings.NewReader(strings.Join(recs, "\n")))
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		for _, r := range recs {
			acked[r] = true
		}
		if killed != "" {
			afterKill++
		}
		if req == 20 {
			name, pid := sluice.ReceiverWorker(in)
			if pid == 0 {
				t.Fatalf("no process for the receiver's worker %q", name)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = name
		}
	}
	if now, _ := sluice.ReceiverWorker(in); now == killed || now == "" {
		t.Fatalf("the receiver runs on %q after %s was killed", now, killed)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := make(map[string]int)
	for _, r := range got {
		seen[r]++
		if seen[r] > 1 && !retried[r] {
			t.Errorf("%s is in the output %d times, and was sent once", r, seen[r])
		}
		if !acked[r] && !retried[r] {
			t.Errorf("%s is in the output, and was never sent", r)
		}
	}
	var lost []string
	for r := range acked {
		if seen[r] == 0 {
			lost = append(lost, r)
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged records are missing, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	t.Logf("%d records acknowledged, %d in the output, %d retried; receiver moved from %s", len(acked), len(got), len(retried), killed)
}

// TestWriteAheadLogAcrossDriverCrash: records acknowledged by a receiver
// with a write-ahead log survive a driver that dies before any batch
// processed them; the restarted job processes them, once.
func TestWriteAheadLogAcrossDriverCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	addr := freeAddr(t)
	start := func() (*sluice.Context, *sluicetest.ManualClock, chan sluice.BatchInfo, func() []string) {
		clock := sluicetest.NewManualClock(sluicetest.Epoch)
		infos := make(chan sluice.BatchInfo, 64)
		c, err := sluice.NewContext(sluice.Master("local[2]"), sluice.Batch(time.Second), sluice.WithClock(clock),
			sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b }), sluice.Checkpoint(dir), sluice.WriteAheadLog())
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		sluice.ForeachBatch(sluice.HTTPText(c, addr), func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
			recs, err := d.Collect(ctx)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, recs...)
			return err
		})
		return c, clock, infos, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}
	}

	c, clock, infos, _ := start()
	runUntil(t, c, clock, infos, 1)
	url := "http://" + addr + "/"
	waitListening(t, url)
	if code, body := post(t, url, "x\ny\n"); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, body)
	}
	if keys := sluice.StoreKeys(dir, "wal/"); len(keys) != 1 {
		t.Fatalf("write-ahead log holds %q, want one block", keys)
	}
	sluice.Crash(c)

	c, clock, infos, got := start()
	runUntil(t, c, clock, infos, 6)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got(), []string{"x", "y"}) {
		t.Fatalf("after the restart the job processed %q, want [x y]", got())
	}
	// No batch can read the block again: its log entry is gone.
	if keys := sluice.StoreKeys(dir, "wal/"); len(keys) != 0 {
		t.Fatalf("write-ahead log still holds %q", keys)
	}
}

func TestWriteAheadLogNeedsACheckpoint(t *testing.T) {
	if _, err := sluice.NewContext(sluice.WriteAheadLog()); err == nil || !strings.Contains(err.Error(), "Checkpoint") {
		t.Fatalf("got %v", err)
	}
}
