package postgres_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/source/postgres"
)

// BenchmarkSnapshot takes snapshots of a table of 50 000 campaigns (Plan,
// on the driver) and decodes and scans them (Read, in the tasks), and
// reports rows per second and the snapshot's size:
//
//	go test -run XXX -bench Snapshot -benchtime 10x ./source/postgres/
func BenchmarkSnapshot(b *testing.B) {
	d := newDB(b)
	d.exec("CREATE TABLE " + d.name("campaigns") + " (id bigint PRIMARY KEY, name text, cpc bigint NOT NULL)")
	d.exec("INSERT INTO " + d.name("campaigns") + " SELECT i, 'campaign-' || i, i % 100 FROM generate_series(1, 50000) i")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Refresh(time.Nanosecond))
	defer src.Close()
	var p postgres.Plan
	b.Run("plan", func(b *testing.B) {
		for i := range b.N {
			var err error
			if p, err = src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.Unix(int64(i+1), 0), Prev: p, HasPrev: i > 0, Limit: -1}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(p.Rows*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(len(p.Data)), "snapshot-bytes")
	})
	b.Run("read", func(b *testing.B) {
		for range b.N {
			recs, bad, err := src.Read(bg, p, 0)
			if err != nil || len(bad) > 0 || int64(len(recs)) != p.Rows {
				b.Fatalf("%d records, %v, %v", len(recs), bad, err)
			}
		}
		b.ReportMetric(float64(p.Rows*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
	})
}
