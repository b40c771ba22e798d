package nats_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	natssink "github.com/sluicehq/sluice/sink/nats"
)

// BenchmarkWrite writes partitions of 10,000 records of 100 bytes to an
// embedded server (the same process: the figure is the client's and
// server's CPU cost, not a network's), each key once.
func BenchmarkWrite(b *testing.B) {
	const n = 10_000
	url := startServer(b)
	js := connect(b, url)
	if _, err := js.CreateStream(bg, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out"}}); err != nil {
		b.Fatal(err)
	}
	recs := make([]string, n)
	for i := range recs {
		recs[i] = strings.Repeat("x", 100)
	}
	for _, inFlight := range []int{256, 4096} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) {
			s := natssink.New(url, "out", natssink.Text, natssink.MaxInFlight(inFlight))
			defer s.Close()
			for i := range b.N {
				k := sluice.OutputKey{Output: fmt.Sprint("bench", inFlight), Batch: time.Unix(int64(i), 0), Partitions: 1}
				if err := s.Write(bg, k, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
