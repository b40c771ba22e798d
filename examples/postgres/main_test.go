package main

import (
	"context"
	"crypto/rand"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// schemaEnv passes the test's schema to the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N].
const schemaEnv = "SLUICE_POSTGRES_EXAMPLE_TEST_SCHEMA"

// The job against a real server (SLUICE_TEST_POSTGRES, as for the
// connectors' tests): the results table holds the clicks of each active
// campaign, and a campaign turned off stops counting from the next
// refresh on.
func TestJob(t *testing.T) {
	url := os.Getenv("SLUICE_TEST_POSTGRES")
	if url == "" {
		if os.Getenv("SLUICE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set: run scripts/postgres and export its URL")
		}
		t.Skip("no PostgreSQL server: set SLUICE_TEST_POSTGRES to its URL (scripts/postgres prints one)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	schema := os.Getenv(schemaEnv)
	driver := schema == ""
	if driver {
		schema = "sluice_example_test_" + strings.ToLower(rand.Text()[:12])
		exec("CREATE SCHEMA " + schema)
		t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
		t.Setenv(schemaEnv, schema)
	}
	j := &job{url: url, rate: 100, refresh: 2 * time.Second, campaigns: schema + ".ad_campaigns", results: schema + ".ad_clicks",
		markers: schema + ".markers"} // batch times repeat from run to run: markers of its own
	if driver {
		if err := j.setup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(j.close) // after the harness stopped the job
	h := sluicetest.New(t, time.Second, sluice.NoBackpressure())
	j.build(h.Context)
	h.Run(2)
	if driver { // read by batch 3's snapshot (2 s after batch 1's)
		exec("UPDATE " + j.campaigns + " SET active = false WHERE id = 3")
	}
	h.Run(3)

	want := map[int64]int64{}
	for _, c := range clicks(0, 500, time.Time{}, time.Time{}) {
		if c.Campaign <= 6 && (c.Campaign != 3 || c.ID < 200) {
			want[c.Campaign]++
		}
	}
	rows, err := conn.Query(ctx, "SELECT campaign_id, clicks FROM "+j.results)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int64{}
	var id, n int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { got[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) || len(want) != 6 {
		t.Errorf("clicks by campaign %v, want %v (campaigns 1 to 6)", got, want)
	}
}
