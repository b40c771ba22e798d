package nats_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	natssink "github.com/sluicehq/sluice/sink/nats"
	"github.com/sluicehq/sluice/sluicetest"
)

// stored returns the messages stream holds, in sequence order.
func stored(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(bg, stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := st.GetMsg(bg, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// datas returns the messages' data as strings.
func datas(ms []*jetstream.RawStreamMsg) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Data))
	}
	return out
}

func key(output string, ms int64, part int) sluice.OutputKey {
	return sluice.OutputKey{Output: output, Batch: time.UnixMilli(ms), Partition: part, Partitions: 4}
}

func words(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func TestWriteTwiceStoresOnce(t *testing.T) {
	url, js := newStream(t, "OUT", 0, "out")
	s := natssink.New(url, "out", natssink.Text, natssink.MaxInFlight(3))
	defer s.Close()
	recs := words(10, "w")
	for range 2 {
		if err := s.Write(bg, key("counts", 2000, 1), recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(bg, key("counts", 2000, 2), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	ms := stored(t, js, "OUT")
	if got, want := datas(ms), append(recs, "x"); !slices.Equal(got, want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
	m := ms[3]
	for h, want := range map[string]string{
		jetstream.MsgIDHeader:    "counts/2000000000/1/3",
		natssink.OutputHeader:    "counts",
		natssink.BatchHeader:     "1970-01-01T00:00:02Z",
		natssink.PartitionHeader: "1/4",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
}

// TestRacingWritesStoreOnce writes the same keys from several goroutines
// at once (as speculative attempts do).
func TestRacingWritesStoreOnce(t *testing.T) {
	url, js := newStream(t, "OUT", 0, "out")
	s := natssink.New(url, "out", natssink.Text, natssink.MaxInFlight(16))
	defer s.Close()
	other := natssink.New(url, "out", natssink.Text) // another worker's sink
	defer other.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		sink := []*natssink.Sink[string]{s, other}[i%2]
		wg.Go(func() {
			for p := range 2 {
				errs <- sink.Write(bg, key("out", 1000, p), words(500, fmt.Sprintf("p%d-", p)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := datas(stored(t, js, "OUT"))
	slices.Sort(got)
	want := append(words(500, "p0-"), words(500, "p1-")...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stream holds %d messages, want each of %d once", len(got), len(want))
	}
}

// TestRerunAfterPartialWrite: an attempt stored some of its messages and
// died; the rerun stores the rest.
func TestRerunAfterPartialWrite(t *testing.T) {
	url, js := newStream(t, "OUT", 0, "out")
	k := key("out", 3000, 0)
	recs := words(6, "r")
	for i := range 4 {
		if _, err := js.Publish(bg, "out", []byte(recs[i]), jetstream.WithMsgID(natssink.MsgID(k, i))); err != nil {
			t.Fatal(err)
		}
	}
	s := natssink.New(url, "out", natssink.Text)
	defer s.Close()
	if err := s.Write(bg, k, recs); err != nil {
		t.Fatal(err)
	}
	if got := datas(stored(t, js, "OUT")); !slices.Equal(got, recs) {
		t.Fatalf("stream holds %q, want %q", got, recs)
	}
}

func TestShortDuplicateWindow(t *testing.T) {
	url, js := newStream(t, "OUT", time.Second, "out")
	strict := natssink.New(url, "out", natssink.Text, natssink.MinDuplicateWindow(time.Minute), natssink.RefuseShortWindow())
	defer strict.Close()
	err := strict.Write(bg, key("out", 1000, 0), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "1s") || !strings.Contains(err.Error(), "MinDuplicateWindow") {
		t.Errorf("Write to a stream with a 1 s window: %v, want a refusal naming it", err)
	}
	var log bytes.Buffer
	lax := natssink.New(url, "out", natssink.Text, natssink.MinDuplicateWindow(time.Minute),
		natssink.Logger(slog.New(slog.NewTextHandler(&log, nil))))
	defer lax.Close()
	for range 2 {
		if err := lax.Write(bg, key("out", 1000, 0), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "duplicate window is short"); n != 1 {
		t.Errorf("%d warnings, want one: %s", n, log.String())
	}
	if got := datas(stored(t, js, "OUT")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("stream holds %q, want [a]", got)
	}
}

func TestWriteErrors(t *testing.T) {
	url, _ := newStream(t, "OUT", 0, "out")
	for _, tc := range []struct {
		name string
		sink *natssink.Sink[string]
		want string
	}{
		{"no stream", natssink.New(url, "elsewhere", natssink.Text), "no JetStream stream captures subject elsewhere"},
		{"wildcard", natssink.New(url, "out.*", natssink.Text), "cannot publish"},
		{"encode", natssink.New(url, "out", func(s string) ([]byte, error) {
			if s == "bad" {
				return nil, errors.New("not this one")
			}
			return []byte(s), nil
		}), "record 1: not this one"},
		{"option", natssink.New(url, "out", natssink.Text, natssink.MaxInFlight(0)), "MaxInFlight"},
	} {
		err := tc.sink.Write(bg, key("out", 1000, 0), []string{"good", "bad"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Write: %v, want an error saying %q", tc.name, err, tc.want)
		}
		tc.sink.Close()
	}
}

func TestCoreStillDropsCopiesInAStream(t *testing.T) {
	url, js := newStream(t, "OUT", 0, "out")
	s := natssink.New(url, "out", natssink.Text, natssink.Core(), natssink.MaxInFlight(2))
	defer s.Close()
	for range 2 {
		if err := s.Write(bg, key("out", 1000, 0), words(5, "c")); err != nil {
			t.Fatal(err)
		}
	}
	if got := datas(stored(t, js, "OUT")); !slices.Equal(got, words(5, "c")) {
		t.Fatalf("stream holds %q, want %q", got, words(5, "c"))
	}
}

// TestJobWritesEachRecordOnce runs a job writing to the sink (on worker
// processes with SLUICE_TEST_MASTER=local-cluster[N]).
func TestJobWritesEachRecordOnce(t *testing.T) {
	url, js := newStream(t, "OUT", 0, "out")
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, words(7, "a"), nil, words(4, "b"))
	s := natssink.New(url, "out", natssink.Text)
	t.Cleanup(func() { s.Close() })
	sluice.WriteTo(sluice.Map(in, strings.ToUpper), s, sluice.Named("upper"))
	h.Run(3)
	got := datas(stored(t, js, "OUT"))
	slices.Sort(got)
	want := append(words(7, "A"), words(4, "B")...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
}
