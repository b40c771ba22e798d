package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func TestDriverMetricsAndStatus(t *testing.T) {
	launched := 0.0
	d := NewDriver(DriverGauges{TasksLaunched: func() float64 { launched += 2; return launched }})
	for i := 0; i < keepBatches+5; i++ {
		b := Batch{Time: time.Unix(int64(i), 0), InputRecords: 10, ProcessingMS: 20, SchedulingDelayMS: 1, TotalDelayMS: 21}
		if i == 0 {
			b.Error = "boom"
		}
		d.ObserveBatch(b)
	}
	recent := d.Recent()
	if len(recent) != keepBatches || recent[0].Time.Unix() != 5 {
		t.Fatalf("recent holds %d batches from %v, want the last %d", len(recent), recent[0].Time.Unix(), keepBatches)
	}
	srv, err := Serve("127.0.0.1:0", d.Handler(func() any { return map[string]int{"batches": len(d.Recent())} }))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := get(t, "http://"+srv.Addr()+"/metrics")
	for _, want := range []string{"sluice_batches_total 305", "sluice_batches_failed_total 1", "sluice_input_records_total 3050",
		"sluice_batch_processing_seconds_count 305", "sluice_tasks_launched_total 2", "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var st map[string]int
	if err := json.Unmarshal([]byte(get(t, "http://"+srv.Addr()+"/status")), &st); err != nil || st["batches"] != keepBatches {
		t.Fatalf("/status = %v, %v", st, err)
	}
}

func TestWorkerMetrics(t *testing.T) {
	srv, err := Serve("127.0.0.1:0", WorkerHandler(WorkerGauges{Blocks: func() float64 { return 7 }, BytesFetched: func() float64 { return 1024 }}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := get(t, "http://"+srv.Addr()+"/metrics")
	for _, want := range []string{"sluice_worker_blocks 7", "sluice_worker_shuffle_fetched_bytes_total 1024"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// ServeFrom moves off a taken port to the next free one, as Spark's UI
// does, and says so when all are taken; Serve refuses a taken port.
func TestServeMovesOffABusyPort(t *testing.T) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	// PortTries consecutive free ports, all taken.
	var base int
	for try := 0; base == 0 && try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		run := []net.Listener{l}
		for i := 1; i < PortTries; i++ {
			m, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i))
			if err != nil {
				break
			}
			run = append(run, m)
		}
		if len(run) == PortTries {
			base, held = p, run
		} else {
			for _, m := range run {
				m.Close()
			}
		}
	}
	if base == 0 {
		t.Skip("found no run of free ports")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", base)
	if _, err := ServeFrom(addr, PortTries, http.NewServeMux()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("ServeFrom with %d busy ports = %v", PortTries, err)
	}
	held[PortTries-1].Close()
	if _, err := Serve(addr, http.NewServeMux()); err == nil {
		t.Fatal("Serve on a busy port: no error")
	}
	srv, err := ServeFrom(addr, PortTries, http.NewServeMux())
	if err != nil {
		t.Fatalf("Serve with the last port free: %v", err)
	}
	defer srv.Close()
	if want := fmt.Sprintf("127.0.0.1:%d", base+PortTries-1); srv.Addr() != want {
		t.Errorf("served at %s, want %s", srv.Addr(), want)
	}
}

func TestDriverInputRate(t *testing.T) {
	d := NewDriver(DriverGauges{})
	d.SetInputRate("Generate#0", 1500)
	d.SetInputRate("HTTPText#0", 0)
	srv, err := Serve("127.0.0.1:0", d.Handler(func() any { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := get(t, "http://"+srv.Addr()+"/metrics")
	for _, want := range []string{`sluice_input_rate_limit{input="Generate#0"} 1500`, `sluice_input_rate_limit{input="HTTPText#0"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
