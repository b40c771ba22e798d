package postgres_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/sink/postgres"
)

// BenchmarkWrite writes partitions of n records, each in its own batch,
// appended with COPY or upserted, with keys new each time (every record
// inserts a row) or the same n keys each time (every record updates a
// row), and reports rows written per second:
//
//	go test -run XXX -bench Write -benchtime 20x ./sink/postgres/
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{"append", "upsert-new", "upsert-same"} {
		for _, n := range []int{100, 10_000, 200_000} {
			b.Run(fmt.Sprintf("%s/rows=%d", mode, n), func(b *testing.B) {
				d := newDB(b)
				var opts []postgres.Option
				pk := ""
				if mode != "append" {
					opts, pk = append(opts, postgres.Upsert("shop")), " PRIMARY KEY"
				}
				d.exec("CREATE TABLE " + d.name("sales") + " (shop text" + pk + ", cents bigint NOT NULL)")
				s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, saleRow,
					append(opts, postgres.MarkerTable(d.name("markers")))...)
				defer s.Close()
				recs := make([]sale, n)
				for i := range recs {
					recs[i] = sale{Shop: fmt.Sprintf("shop-%08d", i), Cents: int64(i)}
				}
				if err := s.Write(bg, key("bench", 0, 0), recs[:1]); err != nil { // connect, check the table
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := range b.N {
					if mode == "upsert-new" {
						b.StopTimer()
						for j := range recs {
							recs[j].Shop = fmt.Sprintf("shop-%04d-%08d", i, j)
						}
						b.StartTimer()
					}
					if err := s.Write(bg, key("bench", int64(i+1)*1000, 0), recs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
