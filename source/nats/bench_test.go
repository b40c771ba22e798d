package nats_test

import (
	"bytes"
	"fmt"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	natssrc "github.com/sluicehq/sluice/source/nats"
)

// BenchmarkRead reads 100,000 messages of 100 bytes in one partition
// from an embedded server (the same process: the figure is the client's
// and server's CPU cost, not a network's).
func BenchmarkRead(b *testing.B) {
	const n = 100_000
	url, js := benchStream(b)
	msgs := make([]*natsgo.Msg, n)
	for i := range msgs {
		msgs[i] = &natsgo.Msg{Subject: "events.x", Data: bytes.Repeat([]byte("x"), 100)}
	}
	if _, _, err := natssrc.Fill(bg, js, msgs); err != nil {
		b.Fatal(err)
	}
	for _, fetch := range []int{256, 2048} {
		b.Run(fmt.Sprintf("fetch=%d", fetch), func(b *testing.B) {
			src := natssrc.New(url, "EVENTS", func(m natssrc.Msg) (int, error) { return len(m.Data), nil }, natssrc.FetchSize(fetch))
			defer src.Close()
			for range b.N {
				recs, _, err := src.Read(bg, natssrc.Plan{From: 1, To: n + 1, Parts: 1}, 0)
				if err != nil || len(recs) != n {
					b.Fatalf("%d records, %v", len(recs), err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
