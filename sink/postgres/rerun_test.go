package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/postgres"
	"github.com/sluicehq/sluice/sluicetest"
)

// copyRecords is how many records the interrupted writes copy: several of
// COPY's 64 KiB messages, so that the interruption comes after the server
// got some of them.
const copyRecords = 20000

// interruptedAt is the record whose row function interrupts the write.
const interruptedAt = copyRecords / 2

// withParams adds query parameters to a URL.
func withParams(t *testing.T, u string, kv ...string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// checkNothingCommitted checks that an interrupted write left no row and
// no marker.
func checkNothingCommitted(t *testing.T, d *testDB, output string) {
	t.Helper()
	if n := d.count("sales"); n != 0 {
		t.Fatalf("the interrupted write left %d rows", n)
	}
	if got := committed(t, d, output); len(got) != 0 {
		t.Fatalf("the interrupted write committed %q", got)
	}
}

// checkCommittedOnce checks the rerun's result: every record once.
func checkCommittedOnce(t *testing.T, d *testDB, output string) {
	t.Helper()
	if n := d.count("sales"); n != copyRecords {
		t.Fatalf("%d rows after the rerun, want %d", n, copyRecords)
	}
	if got, want := committed(t, d, output), []string{fmt.Sprintf("1000/0:%d", copyRecords)}; !slices.Equal(got, want) {
		t.Fatalf("committed %q, want %q", got, want)
	}
}

// copyingBackend waits until the backend of the connection named app is
// running a COPY (pgx sends the data without waiting for the server, which
// may not have read the COPY statement yet) and returns its pid. It runs
// in the row function, so the COPY waits for it with some of its data
// sent.
func copyingBackend(d *testDB, app string) (int, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pids []int
		rows, err := d.conn.Query(bg, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND query ILIKE 'copy %'`, app)
		if err == nil {
			pids, err = pgx.CollectRows(rows, pgx.RowTo[int])
		}
		switch {
		case err != nil:
			return 0, err
		case len(pids) == 1:
			return pids[0], nil
		case len(pids) > 1 || time.Now().After(deadline):
			return 0, fmt.Errorf("%d backends of %s running a COPY", len(pids), app)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// interruptingSink makes a sink whose connection is named app and whose
// row function calls interrupt, with the COPY's backend, at
// interruptedAt. It keeps interrupt's error in *errp.
func interruptingSink(t *testing.T, d *testDB, app string, interrupt func(pid int) error, errp *error) *postgres.Sink[sale] {
	t.Helper()
	d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
	// One connection: a rerun cannot pick an idle one that a kill ended.
	u := withParams(t, d.url, "application_name", app, "pool_max_conns", "1")
	calls := 0
	*errp = errors.New("the row function was not called")
	s := postgres.New(u, d.name("sales"), []string{"shop", "cents"}, func(r sale) []any {
		if calls++; calls == interruptedAt {
			pid, err := copyingBackend(d, app)
			if err == nil {
				err = interrupt(pid)
			}
			*errp = err
		}
		return saleRow(r)
	}, postgres.MarkerTable(d.name("markers")))
	t.Cleanup(s.Close)
	return s
}

func appName() string { return "sluice-test-" + strings.ToLower(rand.Text()[:8]) }

// A write whose context is cancelled in the middle of the COPY (a task
// cancelled because its speculative copy won, or its job stopped) commits
// nothing; the rerun commits every row once.
func TestCancelMidCopyThenRerun(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var interruptErr error
	s := interruptingSink(t, d, appName(), func(int) error { cancel(); return nil }, &interruptErr)
	recs := sales(copyRecords, "a-shop-name-long-enough-to-fill-messages")
	err := s.Write(ctx, key("cancel", 1000, 0), recs)
	if interruptErr != nil {
		t.Fatal(interruptErr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Write = %v, want context.Canceled", err)
	}
	checkNothingCommitted(t, d, "cancel")
	if err := s.Write(bg, key("cancel", 1000, 0), recs); err != nil {
		t.Fatal(err)
	}
	checkCommittedOnce(t, d, "cancel")
}

// A write whose connection the server drops in the middle of the COPY (a
// crashed backend, a restarted server, a network cut) commits nothing;
// the rerun commits every row once.
func TestConnectionKilledMidCopyThenRerun(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	var interruptErr error
	s := interruptingSink(t, d, appName(), func(pid int) error {
		var ok bool
		if err := d.conn.QueryRow(bg, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
			return fmt.Errorf("terminating backend %d: %v %v", pid, ok, err)
		}
		return nil
	}, &interruptErr)
	recs := sales(copyRecords, "a-shop-name-long-enough-to-fill-messages")
	err := s.Write(bg, key("kill", 1000, 0), recs)
	if interruptErr != nil {
		t.Fatal(interruptErr)
	}
	if err == nil {
		t.Fatal("Write succeeded although its connection was killed")
	}
	t.Logf("the interrupted write: %v", err)
	checkNothingCommitted(t, d, "kill")
	if err := s.Write(bg, key("kill", 1000, 0), recs); err != nil {
		t.Fatal(err)
	}
	checkCommittedOnce(t, d, "kill")
}

// troubled wraps a sink as the engine's failures would: every partition's
// first write commits and then fails (so the engine runs the task again),
// and every write runs twice at once (as a speculative copy would).
// Whether a key was failed already is kept in the database, which the
// worker processes of a cluster share.
type troubled[T any] struct {
	*postgres.Sink[T]
	d     *testDB
	tried *pgxpool.Pool // tasks run concurrently: a pgx.Conn would not do
}

func (s *troubled[T]) Write(ctx context.Context, k sluice.OutputKey, recs []T) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Sink.Write(ctx, k, recs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	tag, err := s.tried.Exec(ctx, "INSERT INTO "+s.d.name("tried")+" VALUES ($1) ON CONFLICT DO NOTHING", k.String())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return fmt.Errorf("worker lost after writing %v", k)
	}
	return nil
}

// Through a real context: the table holds every record exactly once,
// although every write was repeated and run twice at once.
func TestWriteToEndToEnd(t *testing.T) {
	d := newDB(t)
	if os.Getenv(schemaEnv) == "" { // the driver process: make the tables
		d.exec("CREATE TABLE " + d.name("sales") + " (shop text NOT NULL, cents bigint NOT NULL)")
		d.exec("CREATE TABLE " + d.name("tried") + " (key text PRIMARY KEY)")
		d.shareSchema(t)
	}
	// Made before the harness, so that they are closed after it stopped
	// the job (cleanups run last first).
	sink := postgres.New(d.url, d.name("sales"), []string{"shop", "cents"}, saleRow, postgres.MarkerTable(d.name("markers")))
	t.Cleanup(sink.Close)
	tried, err := pgxpool.New(bg, d.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tried.Close)

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3,
		[]sale{{"paris", 120}, {"oslo", 80}, {"rome", 45}, {"oslo", 300}},
		nil,
		[]sale{{"rome", 999}},
		sales(1000, "lima"))
	doubled := sluice.Map(in, func(s sale) sale { s.Cents *= 2; return s })
	sluice.WriteTo(doubled, &troubled[sale]{Sink: sink, d: d, tried: tried}, sluice.Named("sales"))
	want := sluicetest.Collect(doubled)
	h.Run(4)

	var wantRows []string
	for _, b := range want.Batches() {
		for _, r := range b {
			wantRows = append(wantRows, fmt.Sprintf("%s %d", r.Shop, r.Cents))
		}
	}
	slices.Sort(wantRows)
	if got := d.rows("SELECT shop, cents FROM " + d.name("sales")); !slices.Equal(got, wantRows) {
		t.Fatalf("table holds %d rows, want %d:\n%q\nwant\n%q", len(got), len(wantRows), firstN(got, 20), firstN(wantRows, 20))
	}
	got := committed(t, d, "sales")
	wantCommits := []string{"1000/0:1", "1000/1:1", "1000/2:2", "2000/0:0", "2000/1:0", "2000/2:0",
		"3000/0:0", "3000/1:0", "3000/2:1", "4000/0:333", "4000/1:333", "4000/2:334"}
	if !slices.Equal(got, wantCommits) {
		t.Fatalf("committed %q, want %q", got, wantCommits)
	}
	if n := len(d.rows("SELECT key FROM " + d.name("tried"))); n != 12 {
		t.Fatalf("%d partitions failed once, want all 12", n)
	}
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }
