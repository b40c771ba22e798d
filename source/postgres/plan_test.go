package postgres_test

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/source/postgres"
)

func plan(t *testing.T, src *postgres.Source[campaign], sec int64, prev *postgres.Plan) postgres.Plan {
	t.Helper()
	req := sluice.PlanRequest[postgres.Plan]{Batch: time.Unix(sec, 0), Limit: -1}
	if prev != nil {
		req.Prev, req.HasPrev = *prev, true
	}
	p, err := src.Plan(bg, req)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t *testing.T, src *postgres.Source[campaign], p postgres.Plan) []campaign {
	t.Helper()
	var out []campaign
	for part := range src.Parts(p) {
		recs, bad, err := src.Read(bg, p, part)
		if err != nil || len(bad) > 0 {
			t.Fatalf("Read part %d: %v %v", part, bad, err)
		}
		out = append(out, recs...)
	}
	return out
}

// Plan reuses a snapshot within a refresh period and takes a new one
// after it, or when a new driver plans its first batch.
func TestPlanReusesSnapshotUntilRefresh(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("campaigns") + " (id bigint PRIMARY KEY, name text, cpc bigint NOT NULL)")
	d.exec("INSERT INTO " + d.name("campaigns") + " SELECT i, 'c' || i, i FROM generate_series(7, 1, -1) i")
	src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Refresh(3*time.Second), postgres.Partitions(3))
	defer src.Close()
	p1 := plan(t, src, 1, nil)
	if p1.Taken != time.Unix(1, 0).UnixNano() || p1.Rows != 7 || src.Parts(p1) != 3 {
		t.Fatalf("plan %+v", p1)
	}
	var ids []int64
	for _, c := range readAll(t, src, p1) {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("read ids %v, want 1..7 in key order", ids)
	}
	d.exec("UPDATE " + d.name("campaigns") + " SET cpc = 0")
	p3 := plan(t, src, 3, &p1)
	if p3.Taken != p1.Taken || !bytes.Equal(p3.Data, p1.Data) {
		t.Fatal("a batch within the refresh period took a new snapshot")
	}
	p4 := plan(t, src, 4, &p3)
	if p4.Taken != time.Unix(4, 0).UnixNano() || readAll(t, src, p4)[0].CPC != 0 {
		t.Fatalf("the batch 3 s after the snapshot did not refresh it: %+v", p4)
	}

	// A restarted driver (a new source) takes a snapshot for its first
	// batch; a static table keeps it.
	d.exec("UPDATE " + d.name("campaigns") + " SET cpc = 5")
	static := postgres.Table(d.url, d.name("campaigns"), scanCampaign)
	defer static.Close()
	p5 := plan(t, static, 5, &p4)
	if p5.Taken != time.Unix(5, 0).UnixNano() || readAll(t, static, p5)[0].CPC != 5 {
		t.Fatalf("a new driver's first batch kept the old snapshot: %+v", p5)
	}
	d.exec("UPDATE " + d.name("campaigns") + " SET cpc = 6")
	if p := plan(t, static, 1000, &p5); p.Taken != p5.Taken || readAll(t, static, p)[0].CPC != 5 {
		t.Fatal("a static table was read again")
	}

	// Empty: no partition.
	d.exec("DELETE FROM " + d.name("campaigns"))
	if p := plan(t, src, 9, &p4); src.Parts(p) != 0 || p.Rows != 0 {
		t.Fatalf("empty table: plan %+v with %d parts", p, src.Parts(p))
	}
}

// The types a table may hold scan from the snapshot's text form as they
// do from pgx's own (binary) query.
type typed struct {
	ID     int32          `db:"id"`
	Amount float64        `db:"amount"`
	At     time.Time      `db:"at"`
	Day    time.Time      `db:"day"`
	Blob   []byte         `db:"blob"`
	Tags   []int64        `db:"tags"`
	Doc    map[string]any `db:"doc"`
	OK     bool           `db:"ok"`
	UUID   string         `db:"uuid"`
	Mood   string         `db:"mood"`
	Note   *string        `db:"note"`
	Span   time.Duration  `db:"span"`
}

func TestScanTypes(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TYPE " + d.name("mood") + " AS ENUM ('happy', 'sad')")
	d.exec("CREATE TABLE " + d.name("typed") + ` (id int PRIMARY KEY, amount numeric, at timestamptz, day date, blob bytea,
		tags bigint[], doc jsonb, ok bool, uuid uuid, mood ` + d.name("mood") + `, note text, span interval)`)
	d.exec("INSERT INTO " + d.name("typed") + ` VALUES
		(1, 12.5, '2026-01-02 03:04:05.678901+02', '2026-03-04', '\x00ff10', '{1,2,3}', '{"a": [1, "x"], "b": null}', true,
		 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'sad', 'tab	and "quote"', '1 hour 2 seconds'),
		(2, -0.001, '1999-12-31 23:59:59Z', '1970-01-01', '', '{}', '{}', false,
		 '00000000-0000-0000-0000-000000000000', 'happy', NULL, '0')`)
	scan := func(r pgx.CollectableRow) (typed, error) {
		v, err := pgx.RowToStructByName[typed](r)
		v.At, v.Day = v.At.UTC(), v.Day.UTC()
		return v, err
	}
	rows, err := d.conn.Query(bg, "SELECT * FROM "+d.name("typed")+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, scan)
	if err != nil {
		t.Fatal(err)
	}
	src := postgres.Table(d.url, d.name("typed"), scan)
	defer src.Close()
	p, err := src.Plan(bg, sluice.PlanRequest[postgres.Plan]{Batch: time.Unix(1, 0), Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, bad, err := src.Read(bg, p, 0)
	if err != nil || len(bad) > 0 {
		t.Fatalf("Read: %v %v", bad, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from the snapshot:\n%+v\nfrom pgx:\n%+v", got, want)
	}
}
