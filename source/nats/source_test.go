package nats_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
	natssrc "github.com/sluicehq/sluice/source/nats"
)

// msgs returns "m<from>" … "m<to-1>".
func msgs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

func TestPlanRangesSplitEvenly(t *testing.T) {
	for _, p := range []natssrc.Plan{{1, 11, 3}, {5, 6, 1}, {1, 1 << 63, 7}, {100, 107, 7}, {3, 3, 0}} {
		next := p.From
		for part := range p.Parts {
			lo, hi := p.Range(part)
			if lo != next || hi < lo {
				t.Fatalf("%+v: part %d is [%d, %d), want it to start at %d", p, part, lo, hi, next)
			}
			if n, even := hi-lo, p.Len()/uint64(p.Parts); n != even && n != even+1 {
				t.Errorf("%+v: part %d has %d sequences, want %d or %d", p, part, n, even, even+1)
			}
			next = hi
		}
		if next != p.To && p.Parts > 0 {
			t.Errorf("%+v: parts end at %d, want %d", p, next, p.To)
		}
	}
}

func TestReadsEveryMessageOnceAcrossBatches(t *testing.T) {
	url, js := newStream(t, "EVENTS", "events.>")
	if js != nil {
		publish(t, js, "events.a", msgs(0, 10)...)
	}
	h := sluicetest.New(t, time.Second)
	src := natssrc.New(url, "EVENTS", natssrc.Text, natssrc.Partitions(3), natssrc.CommitTo("sluice-progress"))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events")))
	h.Run(1)
	publish(t, js, "events.b", msgs(10, 17)...)
	h.Run(2) // the second of them has nothing new
	publish(t, js, "events.a", msgs(17, 22)...)
	h.Run(1)
	want := [][]string{msgs(0, 10), msgs(10, 17), nil, msgs(17, 22)}
	if got := out.Batches(); !equalBatches(got, want) {
		t.Fatalf("batches %q, want %q", got, want)
	}
	c, err := js.Consumer(bg, "EVENTS", "sluice-progress")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(bg)
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 22 || info.NumPending != 0 {
		t.Errorf("progress consumer: ack floor %d, %d pending; want 22 and 0", info.AckFloor.Stream, info.NumPending)
	}
	publish(t, js, "events.a", "m22", "m23")
	if info, _ = c.Info(bg); info.NumPending != 2 {
		t.Errorf("progress consumer: %d pending after two more messages, want 2 (the job's lag)", info.NumPending)
	}
}

func equalBatches(got, want [][]string) bool {
	return slices.EqualFunc(got, want, func(a, b []string) bool { return slices.Equal(a, b) })
}

func TestLimitsCutBatches(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []sluice.Option
		src   []natssrc.Option
		sizes []int
	}{
		{"MaxRate", []sluice.Option{sluice.MaxRate(3), sluice.NoBackpressure()}, nil, []int{3, 3, 3, 1, 0}},
		{"MaxPerBatch", []sluice.Option{sluice.NoBackpressure()}, []natssrc.Option{natssrc.MaxPerBatch(4)}, []int{4, 4, 2, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, js := newStream(t, "EVENTS", "events.>")
			if js != nil {
				publish(t, js, "events.a", msgs(0, 10)...)
			}
			h := sluicetest.New(t, time.Second, tc.opts...)
			src := natssrc.New(url, "EVENTS", natssrc.Text, tc.src...)
			out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events")))
			h.Run(5)
			var sizes []int
			var all []string
			for _, b := range out.Batches() {
				sizes = append(sizes, len(b))
				all = append(all, b...)
			}
			if !slices.Equal(sizes, tc.sizes) || !slices.Equal(all, msgs(0, 10)) {
				t.Errorf("batch sizes %v of %q, want %v of m0..m9", sizes, all, tc.sizes)
			}
		})
	}
}

// order is what the bad-record tests read.
type order struct {
	ID    int    `json:"id"`
	Item  string `json:"item"`
	Cents int64  `json:"cents"`
}

// publishOrders publishes four orders of which the third (sequence 3) is
// not JSON.
func publishOrders(t *testing.T, js jetstream.JetStream) {
	publish(t, js, "orders.new", `{"id":1,"item":"tea","cents":300}`, `{"id":2,"item":"jam","cents":450}`,
		`{"id":3,"item":`, `{"id":4,"item":"oat","cents":120}`)
}

func TestBadMessageFailsBatch(t *testing.T) {
	url, js := newStream(t, "ORDERS", "orders.>")
	if js != nil {
		publishOrders(t, js)
	}
	h := sluicetest.New(t, time.Second)
	sluicetest.Collect(sluice.FromSource(h.Context, natssrc.New(url, "ORDERS", natssrc.JSON[order]), sluice.Named("orders")))
	_, err := h.TryRun(1)
	if err == nil {
		t.Fatal("a message that is not JSON did not fail its batch")
	}
	for _, want := range []string{"input orders", "ORDERS@3", "unexpected end of JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// memSink keeps what it is given (in the process that runs the write).
type memSink[T any] struct {
	mu   sync.Mutex
	recs []T
}

func (m *memSink[T]) Write(_ context.Context, _ sluice.OutputKey, recs []T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

func TestBadMessageGoesToDeadLetter(t *testing.T) {
	url, js := newStream(t, "ORDERS", "orders.>")
	if js != nil {
		publishOrders(t, js)
	}
	h := sluicetest.New(t, time.Second)
	dl := &memSink[sluice.BadRecord]{}
	in := sluice.FromSource(h.Context, natssrc.New(url, "ORDERS", natssrc.JSON[order], natssrc.Partitions(2)),
		sluice.Named("orders"), sluice.DeadLetter(dl))
	out := sluicetest.Collect(sluice.Map(in, func(o order) int { return o.ID }))
	h.Run(2)
	if got := out.Batches(); len(got) != 2 || !slices.Equal(got[0], []int{1, 2, 4}) || len(got[1]) != 0 {
		t.Errorf("orders %v, want [[1 2 4] []]", got)
	}
	if n := h.Context.Status().BadRecords["orders"]; n != 1 {
		t.Errorf("Status counts %d bad records, want 1", n)
	}
	if !strings.HasPrefix(h.Context.Status().Master, "local[") {
		return // the dead letters were written in the worker processes
	}
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if len(dl.recs) != 1 {
		t.Fatalf("dead letters %+v, want one", dl.recs)
	}
	b := dl.recs[0]
	if b.Input != "orders" || b.Position != "ORDERS@3" || string(b.Value) != `{"id":3,"item":` || !strings.Contains(b.Error, "JSON") {
		t.Errorf("dead letter %+v, want ORDERS@3 with its data and a JSON error", b)
	}
}
