package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	sinkpg "github.com/sluicehq/sluice/sink/postgres"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/source/postgres"
)

var bg = context.Background()

type campaign struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	CPC  int64  `db:"cpc"`
}

var scanCampaign = pgx.RowToStructByName[campaign]

// campaigns makes the campaigns table in d (in the driver process only:
// workers share its schema).
func campaigns(t *testing.T, d *testDB, rows string) {
	t.Helper()
	if os.Getenv(schemaEnv) != "" {
		return
	}
	d.exec("CREATE TABLE " + d.name("campaigns") + " (id bigint PRIMARY KEY, name text, cpc bigint NOT NULL)")
	if rows != "" {
		d.exec("INSERT INTO " + d.name("campaigns") + " VALUES " + rows)
	}
	d.shareSchema(t)
}

// driverExec runs sql in the driver process only (the worker processes of
// a local cluster run the test too).
func driverExec(d *testDB, sql string) {
	d.t.Helper()
	if !sluice.IsWorker() {
		d.exec(sql)
	}
}

type click = sluice.KV[int64, string] // campaign id, user

// joined renders a batch of JoinTable's output sorted: "user:name:cpc".
func joined(b []sluice.KV[int64, sluice.Joined[string, campaign]]) string {
	var out []string
	for _, kv := range b {
		out = append(out, fmt.Sprintf("%s:%s:%d", kv.Value.Left, kv.Value.Right.Name, kv.Value.Right.CPC))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func joinedBatches(o *sluicetest.Output[sluice.KV[int64, sluice.Joined[string, campaign]]]) []string {
	var out []string
	for _, b := range o.Batches() {
		out = append(out, joined(b))
	}
	return out
}

// A static table joined with a stream: every batch meets the rows the
// first batch read, though the table changes.
func TestStaticTableJoin(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "(1, 'spring', 10), (2, 'summer', 20), (3, 'autumn', 30)")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Partitions(2))
	h := sluicetest.New(t, time.Second)
	table := sluice.FromSource(h.Context, src, sluice.Named("campaigns"))
	clicks := sluicetest.Input(h, 2,
		[]click{{Key: 1, Value: "u1"}, {Key: 2, Value: "u2"}, {Key: 4, Value: "u4"}},
		[]click{{Key: 3, Value: "u3"}, {Key: 1, Value: "u5"}, {Key: 4, Value: "u6"}})
	out := sluicetest.Collect(postgres.JoinTable(clicks, table, func(c campaign) int64 { return c.ID }))
	left := sluicetest.Collect(postgres.LeftJoinTable(clicks, table, func(c campaign) int64 { return c.ID }))
	h.Run(1)
	if !sluice.IsWorker() {
		t.Logf("on %s", h.Context.Status().Master)
	}
	driverExec(d, "UPDATE "+d.name("campaigns")+" SET cpc = 99")
	driverExec(d, "INSERT INTO "+d.name("campaigns")+" VALUES (4, 'winter', 40)")
	h.Run(2)
	want := []string{"u1:spring:10 u2:summer:20", "u3:autumn:30 u5:spring:10", ""}
	if got := joinedBatches(out); !slices.Equal(got, want) {
		t.Errorf("joined %q, want %q", got, want)
	}
	var unmatched []string
	for _, b := range left.Batches() {
		for _, kv := range b {
			if !kv.Value.Right.Valid {
				unmatched = append(unmatched, kv.Value.Left)
			}
		}
	}
	if slices.Sort(unmatched); !slices.Equal(unmatched, []string{"u4", "u6"}) {
		t.Errorf("left join kept %q without a row, want u4 and u6", unmatched)
	}
}

// A refreshed table: a change shows from the next refresh on (every 3
// batches here), not within a refresh period.
func TestRefreshChangesFromNextRefresh(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "(1, 'spring', 10)")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Refresh(3*time.Second))
	h := sluicetest.New(t, time.Second)
	table := sluice.FromSource(h.Context, src, sluice.Named("campaigns"))
	var batches [][]click
	for i := range 7 {
		batches = append(batches, []click{{Key: 1, Value: fmt.Sprint("b", i+1)}})
	}
	out := sluicetest.Collect(postgres.JoinTable(sluicetest.Input(h, 1, batches...), table, func(c campaign) int64 { return c.ID }))
	h.Run(1)
	driverExec(d, "UPDATE "+d.name("campaigns")+" SET cpc = 20") // after the snapshot of batch 1
	h.Run(3)
	driverExec(d, "UPDATE "+d.name("campaigns")+" SET cpc = 30") // after the snapshot of batch 4
	h.Run(3)
	want := []string{"b1:spring:10", "b2:spring:10", "b3:spring:10", "b4:spring:20", "b5:spring:20", "b6:spring:20", "b7:spring:30"}
	if got := joinedBatches(out); !slices.Equal(got, want) {
		t.Errorf("joined %q, want %q", got, want)
	}
}

// A task that fails after the table changed (a worker lost mid-batch) is
// run again: it reads the snapshot its batch planned, not the table as it
// is now. The first attempt of each partition of batch 2 changes the
// table and fails; whether it did is kept in the database, which the
// worker processes of a cluster share.
func TestRetriedTaskReadsItsSnapshot(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "(1, 'spring', 10), (2, 'summer', 20)")
	driverExec(d, "CREATE TABLE "+d.name("tried")+" (part int PRIMARY KEY)")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Partitions(2))
	h := sluicetest.New(t, time.Second)
	table := sluice.FromSource(h.Context, src, sluice.Named("campaigns"))
	batch2 := h.Time(2)
	failing := sluice.Transform(table, func(ds sluice.Dataset[campaign], bt time.Time) sluice.Dataset[campaign] {
		return dataset.MapPartitions(ds, func(rows []campaign) []campaign {
			if bt.Equal(batch2) && len(rows) > 0 {
				failOnce(d, rows[0].ID)
			}
			return rows
		})
	})
	clicks := sluicetest.Input(h, 2,
		[]click{{Key: 1, Value: "u1"}}, []click{{Key: 1, Value: "u2"}, {Key: 2, Value: "u3"}}, []click{{Key: 2, Value: "u4"}})
	out := sluicetest.Collect(postgres.JoinTable(clicks, failing, func(c campaign) int64 { return c.ID }))
	h.Run(3)
	want := []string{"u1:spring:10", "u2:spring:10 u3:summer:20", "u4:summer:20"}
	if got := joinedBatches(out); !slices.Equal(got, want) {
		t.Errorf("joined %q, want %q", got, want)
	}
	if got := d.rows("SELECT part FROM " + d.name("tried")); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("failed partitions %q, want both (1 and 2)", got)
	}
	if got := d.rows("SELECT cpc FROM " + d.name("campaigns")); !slices.Equal(got, []string{"99", "99"}) {
		t.Errorf("the table holds cpc %q, want it changed to 99", got)
	}
}

// failOnce changes the table and panics the first time it is called for
// part, in any process.
func failOnce(d *testDB, part int64) {
	conn, err := pgx.Connect(bg, d.url)
	if err != nil {
		panic(err)
	}
	defer conn.Close(bg)
	tag, err := conn.Exec(bg, "INSERT INTO "+d.name("tried")+" VALUES ($1) ON CONFLICT DO NOTHING", part)
	if err != nil {
		panic(err)
	}
	if tag.RowsAffected() == 0 {
		return
	}
	if _, err := conn.Exec(bg, "UPDATE "+d.name("campaigns")+" SET cpc = 99"); err != nil {
		panic(err)
	}
	panic(fmt.Sprintf("worker lost reading partition of campaign %d", part))
}

// A snapshot bigger than MaxBytes fails its batch with an error that says
// so, and what to do.
func TestOversizedSnapshotFails(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "")
	driverExec(d, "INSERT INTO "+d.name("campaigns")+" SELECT i, repeat('x', 100), i FROM generate_series(1, 100) i")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.MaxBytes(2000))
	h := sluicetest.New(t, time.Second)
	sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("campaigns")))
	_, err := h.TryRun(1)
	if err == nil {
		t.Fatal("a snapshot of 10 KB passed MaxBytes(2000)")
	}
	for _, want := range []string{"campaigns", "passes MaxBytes (2000 bytes) at row", "raise MaxBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

type deadLetter struct {
	Position string
	Value    string
	Error    string
}

// Rows the scan function refuses go to the dead-letter sink with their
// position: the primary key for a table, the row number for a query.
func TestBadRowsGoToDeadLetter(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "(1, 'spring', 10), (2, NULL, 20), (3, 'autumn', 30), (4, NULL, 40)")
	driverExec(d, "CREATE TABLE "+d.name("dead")+" (position text, value text, error text)")
	dl := sinkpg.New(d.url, d.name("dead"), []string{"position", "value", "error"},
		func(b sluice.BadRecord) []any { return []any{b.Position, string(b.Value), b.Error} },
		sinkpg.MarkerTable(d.name("markers")))
	t.Cleanup(dl.Close)
	h := sluicetest.New(t, time.Second)
	table := sluice.FromSource(h.Context, postgres.Table(d.url, d.name("campaigns"), scanCampaign),
		sluice.Named("campaigns"), sluice.DeadLetter(dl))
	query := sluice.FromSource(h.Context, postgres.Query(d.url, "SELECT id, name, cpc FROM "+d.name("campaigns")+" ORDER BY id DESC", scanCampaign),
		sluice.Named("campaigns-query"), sluice.DeadLetter(dl))
	names := func(cs []campaign) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		slices.Sort(out)
		return out
	}
	good, goodQ := sluicetest.Collect(table), sluicetest.Collect(query)
	h.Run(1)
	if got := names(good.Batches()[0]); !slices.Equal(got, []string{"autumn", "spring"}) {
		t.Errorf("table read %q", got)
	}
	if got := names(goodQ.Batches()[0]); !slices.Equal(got, []string{"autumn", "spring"}) {
		t.Errorf("query read %q", got)
	}
	got := d.rows("SELECT position, value FROM " + d.name("dead"))
	want := []string{
		d.name("campaigns") + `:2 {"id":"2","name":null,"cpc":"20"}`,
		d.name("campaigns") + `:4 {"id":"4","name":null,"cpc":"40"}`,
		`query:row 1 {"id":"4","name":null,"cpc":"40"}`,
		`query:row 3 {"id":"2","name":null,"cpc":"20"}`,
	}
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Errorf("dead letters %q, want %q", got, want)
	}
	for _, e := range d.rows("SELECT error FROM " + d.name("dead")) {
		if !strings.Contains(e, "name") {
			t.Errorf("dead letter error %q does not name the column", e)
		}
	}
}

// Without a dead-letter sink a bad row fails the batch, naming it.
func TestBadRowFailsBatch(t *testing.T) {
	d := newDB(t)
	campaigns(t, d, "(1, 'spring', 10), (7, NULL, 20)")
	h := sluicetest.New(t, time.Second)
	sluicetest.Collect(sluice.FromSource(h.Context, postgres.Table(d.url, d.name("campaigns"), scanCampaign), sluice.Named("campaigns")))
	_, err := h.TryRun(1)
	if err == nil || !strings.Contains(err.Error(), d.name("campaigns")+":7") {
		t.Fatalf("TryRun = %v, want an error at %s:7", err, d.name("campaigns"))
	}
}

func TestMissingTable(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	src := postgres.Table(d.url, d.name("nope"), scanCampaign)
	defer src.Close()
	_, err := src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.UnixMilli(1000), Limit: -1})
	if want := fmt.Sprintf(`table "%s"."nope" does not exist`, d.schema); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Plan = %v, want %q", err, want)
	}
	// Made meanwhile: the next Plan finds it.
	d.exec("CREATE TABLE " + d.name("nope") + " (id bigint, name text, cpc bigint)")
	if _, err := src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.UnixMilli(2000), Limit: -1}); err != nil {
		t.Fatal(err)
	}
}

// Needs no server: nothing listens on port 1.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	src := postgres.Table("postgres://sluice:secret@127.0.0.1:1/sluice?sslmode=disable", "t", scanCampaign)
	defer src.Close()
	_, err := src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.UnixMilli(1000), Limit: -1})
	if err == nil || !strings.Contains(err.Error(), "cannot connect to 127.0.0.1:1") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Plan = %v, want an error saying where it could not connect, without the password", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.UnixMilli(2000), Limit: -1}); !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("Plan after Close = %v, want ErrClosed", err)
	}
}
