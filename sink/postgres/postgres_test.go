package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/postgres"
)

var bg = context.Background()

type sale struct {
	Shop  string
	Cents int64
}

func saleRow(s sale) []any { return []any{s.Shop, s.Cents} }

func key(output string, ms int64, part int) sluice.OutputKey {
	return sluice.OutputKey{Output: output, Batch: time.UnixMilli(ms), Partition: part, Partitions: 4}
}

// salesSink makes a table of sales in d and a sink to it, with the
// markers in d's schema too.
func salesSink(t *testing.T, d *testDB, opts ...postgres.Option) *postgres.Sink[sale] {
	t.Helper()
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
	opts = append([]postgres.Option{postgres.MarkerTable(d.name("markers"))}, opts...)
	s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, saleRow, opts...)
	t.Cleanup(s.Close)
	return s
}

func sales(n int, shop string) []sale {
	out := make([]sale, n)
	for i := range out {
		out[i] = sale{Shop: shop, Cents: int64(i)}
	}
	return out
}

func committed(t *testing.T, d *testDB, output string) []string {
	t.Helper()
	cs, err := postgres.Committed(bg, d.url, output, postgres.MarkerTable(d.name("markers")))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		if c.CommittedAt.IsZero() {
			t.Errorf("commit %v has no time", c)
		}
		out = append(out, fmt.Sprintf("%d/%d:%d", c.Batch.UnixMilli(), c.Part, c.Rows))
	}
	return out
}

func TestAppendExactlyOnce(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	s := salesSink(t, d)
	recs := []sale{{"paris", 120}, {"oslo", 80}, {"paris", 120}} // equal records are rows of their own
	for range 3 {
		if err := s.Write(bg, key("sales", 1000, 0), recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(bg, key("sales", 1000, 1), []sale{{"rome", 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(bg, key("sales", 2000, 0), nil); err != nil { // an empty partition is committed too
		t.Fatal(err)
	}
	got := d.rows("SELECT shop, cents FROM " + d.name("sales"))
	if want := []string{"oslo 80", "paris 120", "paris 120", "rome 5"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %q, want %q", got, want)
	}
	if got, want := committed(t, d, "sales"), []string{"1000/0:3", "1000/1:1", "2000/0:0"}; !slices.Equal(got, want) {
		t.Fatalf("committed %q, want %q", got, want)
	}
	if got := committed(t, d, "other"); len(got) != 0 {
		t.Fatalf("another output has commits %q", got)
	}
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("totals") + " (shop text PRIMARY KEY, cents bigint NOT NULL, note text)")
	s := postgres.New(d.url, d.name("totals"), []string{"shop", "cents"}, saleRow,
		postgres.Upsert("shop"), postgres.MarkerTable(d.name("markers")))
	defer s.Close()
	d.exec("INSERT INTO " + d.name("totals") + " VALUES ('lima', 1, 'kept'), ('oslo', 2, 'kept')")

	// Within a partition the last record of a key wins.
	b1 := []sale{{"paris", 10}, {"oslo", 20}, {"paris", 30}}
	if err := s.Write(bg, key("totals", 1000, 0), b1); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(bg, key("totals", 2000, 0), []sale{{"oslo", 50}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(bg, key("totals", 1000, 0), b1); err != nil { // a late rerun of batch 1: no effect
		t.Fatal(err)
	}
	got := d.rows("SELECT shop, cents, coalesce(note, '-') FROM " + d.name("totals"))
	if want := []string{"lima 1 kept", "oslo 50 kept", "paris 30 -"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %q, want %q", got, want)
	}
	if got, want := committed(t, d, "totals"), []string{"1000/0:3", "2000/0:1"}; !slices.Equal(got, want) {
		t.Fatalf("committed %q, want %q", got, want)
	}

	// Every column a key: rows are inserted once, never updated.
	d.exec("CREATE TABLE " + d.name("seen") + " (shop text, cents bigint, PRIMARY KEY (shop, cents))")
	seen := postgres.New(d.url, d.name("seen"), []string{"shop", "cents"}, saleRow,
		postgres.Upsert("shop", "cents"), postgres.MarkerTable(d.name("markers")))
	defer seen.Close()
	for i, b := range [][]sale{{{"a", 1}, {"a", 1}, {"b", 2}}, {{"a", 1}, {"c", 3}}} {
		if err := seen.Write(bg, key("seen", int64(i+1)*1000, 0), b); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := d.rows("SELECT shop, cents FROM "+d.name("seen")), []string{"a 1", "b 2", "c 3"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %q, want %q", got, want)
	}
}

func TestUpsertWithoutUniqueKey(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	s := salesSink(t, d, postgres.Upsert("shop")) // no unique index on shop
	err := s.Write(bg, key("u", 1000, 0), []sale{{"a", 1}})
	if err == nil || !strings.Contains(err.Error(), "ON CONFLICT") {
		t.Fatalf("Write = %v, want the server's complaint about the conflict target", err)
	}
	if got := committed(t, d, "u"); len(got) != 0 {
		t.Fatalf("a failed write committed %q", got)
	}
}

// Concurrent attempts of one key (speculative copies, on several workers):
// every one succeeds, and the rows are written once.
func TestConcurrentAttempts(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
	var rowCalls atomic.Int64
	var sinks []*postgres.Sink[sale]
	for range 4 { // the sinks of several workers
		s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, func(s sale) []any {
			rowCalls.Add(1)
			return saleRow(s)
		}, postgres.MarkerTable(d.name("markers")))
		t.Cleanup(s.Close)
		sinks = append(sinks, s)
	}
	recs := sales(5000, "x")
	var wg sync.WaitGroup
	errs := make([]error, 2*len(sinks))
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sinks[i%len(sinks)].Write(bg, key("c", 1000, 2), recs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := d.count("sales"); n != len(recs) {
		t.Fatalf("%d rows, want %d", n, len(recs))
	}
	if got := committed(t, d, "c"); !slices.Equal(got, []string{"1000/2:5000"}) {
		t.Fatalf("committed %q", got)
	}
	// The attempts that found the marker did not even copy.
	if n := rowCalls.Load(); n != int64(len(recs)) {
		t.Fatalf("the row function was called %d times for %d records", n, len(recs))
	}
}

// Workers that start together all find or make the marker table.
func TestMarkerTableMadeOnceConcurrently(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, saleRow, postgres.MarkerTable(d.name("fresh_markers")))
		t.Cleanup(s.Close)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(bg, key("m", 1000, i), []sale{{"w", int64(i)}})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := d.count("sales"); n != 6 {
		t.Fatalf("%d rows, want 6", n)
	}
}

// The default marker table is shared by every test run: each uses an
// output of its own.
func TestDefaultMarkerTable(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
	s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, saleRow)
	defer s.Close()
	output := "default-" + d.schema
	t.Cleanup(func() {
		if _, err := d.conn.Exec(bg, "DELETE FROM "+postgres.DefaultMarkerTable+" WHERE output = $1", output); err != nil {
			t.Error(err)
		}
	})
	for range 2 {
		if err := s.Write(bg, key(output, 1000, 0), []sale{{"a", 1}}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := postgres.Committed(bg, d.url, output)
	if err != nil || len(cs) != 1 || cs[0].Rows != 1 {
		t.Fatalf("Committed = %v, %v", cs, err)
	}
	if n := d.count("sales"); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// withPassword returns u with another password.
func withPassword(t *testing.T, u, password string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(p.User.Username(), password)
	return p.String()
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text, cents bigint)")
	bad := withPassword(t, d.url, "not-the-password")
	s := postgres.New(bad, d.name("sales"), []string{"shop", "cents"}, saleRow)
	defer s.Close()
	err := s.Write(bg, key("p", 1000, 0), []sale{{"a", 1}})
	var pe *pgconn.PgError
	if err == nil || !strings.Contains(err.Error(), "cannot log in") || !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("Write = %v, want a login error (SQLSTATE 28P01)", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if _, err := postgres.Committed(bg, bad, "p"); err == nil || !strings.Contains(err.Error(), "cannot log in") {
		t.Fatalf("Committed = %v, want a login error", err)
	}
	t.Log(err)
}

// Needs no server: nothing listens on port 1.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	s := postgres.New("postgres://sluice:secret@127.0.0.1:1/sluice?sslmode=disable", "sales", []string{"shop"},
		func(s sale) []any { return []any{s.Shop} })
	defer s.Close()
	err := s.Write(bg, key("u", 1000, 0), []sale{{"a", 1}})
	if err == nil || !strings.Contains(err.Error(), "cannot connect to 127.0.0.1:1") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Write = %v, want an error saying where it could not connect, without the password", err)
	}
}

func TestMissingTableOrColumn(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	s := postgres.New(d.url, d.name("nope"), []string{"shop", "cents"}, saleRow, postgres.MarkerTable(d.name("markers")))
	defer s.Close()
	err := s.Write(bg, key("t", 1000, 0), []sale{{"a", 1}})
	if want := fmt.Sprintf(`table "%s"."nope" does not exist`, d.schema); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Write = %v, want %q", err, want)
	}
	// Made meanwhile, but without a column.
	d.exec("CREATE TABLE " + d.name("nope") + " (shop text)")
	err = s.Write(bg, key("t", 1000, 0), []sale{{"a", 1}})
	if err == nil || !strings.Contains(err.Error(), "has no column cents") {
		t.Fatalf("Write = %v, want an error naming the missing column", err)
	}
	d.exec("ALTER TABLE " + d.name("nope") + " ADD COLUMN cents bigint")
	if err := s.Write(bg, key("t", 1000, 0), []sale{{"a", 1}}); err != nil {
		t.Fatalf("Write once the table is right: %v", err)
	}
}

func TestWrongArity(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text, cents bigint)")
	n := 0
	s := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, func(s sale) []any {
		n++
		if n == 3 {
			return []any{s.Shop} // a bug in the row function
		}
		return saleRow(s)
	}, postgres.MarkerTable(d.name("markers")))
	defer s.Close()
	err := s.Write(bg, key("a", 1000, 0), sales(5, "x"))
	if err == nil || !strings.Contains(err.Error(), "record 2 has 1 values for the 2 columns shop, cents") {
		t.Fatalf("Write = %v, want an error naming the record and the columns", err)
	}
	if c := d.count("sales"); c != 0 {
		t.Fatalf("%d rows written by a failed write", c)
	}
	if got := committed(t, d, "a"); len(got) != 0 {
		t.Fatalf("a failed write committed %q", got)
	}
	if err := s.Write(bg, key("a", 1000, 0), sales(5, "x")); err != nil { // the row function is right again
		t.Fatal(err)
	}
	if c := d.count("sales"); c != 5 {
		t.Fatalf("%d rows, want 5", c)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := postgres.New("postgres://127.0.0.1:1/x", "t", []string{"a"}, func(int) []any { return []any{1} })
	s.Close()
	s.Close()
	if err := s.Write(bg, key("c", 1000, 0), []int{1}); !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	row := func(int) []any { return nil }
	for name, f := range map[string]func(){
		"no columns":     func() { postgres.New("", "t", nil, row) },
		"nil row":        func() { postgres.New[int]("", "t", []string{"a"}, nil) },
		"column twice":   func() { postgres.New("", "t", []string{"a", "a"}, row) },
		"bad table name": func() { postgres.New("", "a.b.c", []string{"a"}, row) },
		"key not column": func() { postgres.New("", "t", []string{"a"}, row, postgres.Upsert("b")) },
		"no chunk":       func() { postgres.New("", "t", []string{"a"}, row, postgres.ChunkRows(0)) },
		"bad marker":     func() { postgres.New("", "t", []string{"a"}, row, postgres.MarkerTable("")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			f()
		}()
	}
}
