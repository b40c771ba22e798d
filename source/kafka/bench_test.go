package kafka_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/source/kafka"
)

// BenchmarkRead reads one partition's range of 100,000 100-byte records
// from kfake (in process, loopback), client setup included, as a task
// does.
func BenchmarkRead(b *testing.B) {
	const n = 100_000
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("bench"))
	if err != nil {
		b.Fatal(err)
	}
	v := []byte(strings.Repeat("x", 100))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: v, Timestamp: time.Now()}
	}
	if err := cl.ProduceSync(bg, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	src := kafka.New[[]byte](c.ListenAddrs(), []string{"bench"}, nil)
	defer src.Close()
	plan := kafka.Plan{Ranges: []kafka.Range{{Topic: "bench", Partition: 0, From: 0, To: n}}}
	b.SetBytes(n * 100)
	for b.Loop() {
		got, _, err := src.Read(bg, plan, 0)
		if err != nil || len(got) != n {
			b.Fatalf("read %d records: %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
