package kafka_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/kafka"
	"github.com/sluicehq/sluice/sluicetest"
)

// committed reads topic out with read_committed: "output/batch-ms/part:value"
// for each record, sorted.
func committed(t *testing.T, brokers []string) []string {
	t.Helper()
	var out []string
	err := kafka.ReadCommitted(bg, brokers, "out", func(k sluice.OutputKey, ok bool, r *kgo.Record) error {
		if !ok {
			return fmt.Errorf("a record without headers: %q", r.Value)
		}
		out = append(out, fmt.Sprintf("%s/%d/%d:%s", k.Output, k.Batch.UnixMilli(), k.Partition, r.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func key(batch int64, part int) sluice.OutputKey {
	return sluice.OutputKey{Output: "sales", Batch: time.UnixMilli(batch), Partition: part, Partitions: 4}
}

func TestWriteTwiceWritesOnce(t *testing.T) {
	brokers := cluster(t)
	s := kafka.New[string](brokers, "out", nil)
	defer s.Close()
	for range 2 {
		if err := s.Write(bg, key(1000, 1), []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
	}
	// Another process (a sink that read no marker yet) writing the key
	// again, then a key of its own.
	s2 := kafka.New[string](brokers, "out", nil)
	defer s2.Close()
	if err := s2.Write(bg, key(1000, 1), []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Write(bg, key(2000, 1), []string{"c"}); err != nil {
		t.Fatal(err)
	}
	// An empty partition commits its marker alone: written again with
	// records (which a deterministic job never does), nothing is added.
	if err := s.Write(bg, key(3000, 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := s2.Write(bg, key(3000, 0), []string{"late"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"sales/1000/1:a", "sales/1000/1:b", "sales/2000/1:c"}
	if got := committed(t, brokers); !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
}

func TestRacingWritesCommitOnce(t *testing.T) {
	brokers := cluster(t)
	const writers, rounds = 4, 5
	sinks := make([]*kafka.Sink[string], writers) // as many processes
	for i := range sinks {
		sinks[i] = kafka.New[string](brokers, "out", nil)
		defer sinks[i].Close()
	}
	var want []string
	for r := range rounds {
		k := key(int64(1000*(r+1)), r%2)
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i, s := range sinks {
			wg.Go(func() { errs[i] = s.Write(bg, k, []string{"x", "y", "z"}) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, writer %d: %v", r, i, err)
			}
		}
		for _, v := range []string{"x", "y", "z"} {
			want = append(want, fmt.Sprintf("sales/%d/%d:%s", 1000*(r+1), r%2, v))
		}
	}
	slices.Sort(want)
	if got := committed(t, brokers); !slices.Equal(got, want) {
		t.Errorf("committed %q,\nwant %q", got, want)
	}
}

// A writer that died mid-transaction (a zombie) is fenced by the next
// attempt: its records are aborted, its commit refused.
func TestZombieIsFenced(t *testing.T) {
	brokers := cluster(t)
	zombie, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("sluice/sales/2"))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(bg, &kgo.Record{Topic: "out", Value: []byte("zombie"), Headers: kafka.Headers(key(1000, 2))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s := kafka.New[string](brokers, "out", nil)
	defer s.Close()
	if err := s.Write(bg, key(1000, 2), []string{"live"}); err != nil {
		t.Fatal(err)
	}
	if err := zombie.EndTransaction(bg, kgo.TryCommit); err == nil {
		t.Error("the zombie committed after a new attempt began")
	}
	if got, want := committed(t, brokers), []string{"sales/1000/2:live"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
}

func TestAtLeastOnceWritesAgain(t *testing.T) {
	brokers := cluster(t)
	s := kafka.New[string](brokers, "out", nil, kafka.AtLeastOnce())
	defer s.Close()
	for range 2 {
		if err := s.Write(bg, key(1000, 0), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := committed(t, brokers), []string{"sales/1000/0:a", "sales/1000/0:a"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q (twice: no transactions)", got, want)
	}
}

func TestEncodeErrorFailsWrite(t *testing.T) {
	brokers := cluster(t)
	s := kafka.New(brokers, "out", func(v int) ([]byte, []byte, error) {
		if v < 0 {
			return nil, nil, fmt.Errorf("negative")
		}
		return nil, fmt.Append(nil, v), nil
	})
	defer s.Close()
	err := s.Write(bg, key(1000, 0), []int{1, -1})
	if err == nil || !strings.Contains(err.Error(), "record 1: negative") {
		t.Fatalf("Write: %v, want an error naming record 1", err)
	}
	if got := committed(t, brokers); len(got) != 0 {
		t.Errorf("committed %q", got)
	}
}

func TestJobWritesEachBatchOnce(t *testing.T) {
	brokers := cluster(t)
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a", "b", "c"}, []string{"d"}, nil)
	s := kafka.New[string](brokers, "out", nil)
	defer s.Close()
	sluice.WriteTo(in, sluice.Sink[string](s), sluice.Named("letters"))
	h.Run(3)
	if sluice.IsWorker() {
		return
	}
	got := committed(t, brokers)
	// Batch 1 at 1 s: a in partition 0, b and c in 1 (Parallelize's
	// split); batch 2: d; batch 3: two empty partitions (markers only).
	want := []string{"letters/1000/0:a", "letters/1000/1:b", "letters/1000/1:c", "letters/2000/1:d"}
	if !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
}

func FuzzKeyOf(f *testing.F) {
	f.Add("sales", "1000", "1/4")
	f.Add("a/b", "-5", "0/1")
	f.Add("", "x", "3/2")
	f.Fuzz(func(t *testing.T, out, batch, part string) {
		hs := []kgo.RecordHeader{{Key: kafka.HeaderOutput, Value: []byte(out)}, {Key: kafka.HeaderBatch, Value: []byte(batch)}, {Key: kafka.HeaderPartition, Value: []byte(part)}}
		k, ok, err := kafka.KeyOf(hs)
		if err != nil {
			return
		}
		if !ok || k.Output != out || k.Partition < 0 || k.Partition >= k.Partitions {
			t.Fatalf("KeyOf(%q, %q, %q) = %+v, %v", out, batch, part, k, ok)
		}
		k2, ok, err := kafka.KeyOf(kafka.Headers(k))
		if err != nil || !ok || k2.Output != k.Output || !k2.Batch.Equal(k.Batch) || k2.Partition != k.Partition || k2.Partitions != k.Partitions {
			t.Fatalf("the headers of %+v read back as %+v, %v", k, k2, err)
		}
	})
}
