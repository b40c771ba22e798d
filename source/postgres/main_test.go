package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tests run against a real server (the snapshot encoding's tests
// need none), whose URL this variable gives
// (scripts/postgres starts one and prints it). Without it they skip,
// unless requireEnv is 1, as in CI.
const (
	urlEnv     = "SLUICE_TEST_POSTGRES"
	requireEnv = "SLUICE_REQUIRE_POSTGRES"
)

// serverURL returns the test server's URL, or skips the test without one.
func serverURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set, and %s=1 requires a server: run scripts/postgres and export its URL", urlEnv, requireEnv)
		}
		t.Skipf("no PostgreSQL server: set %s to its URL (scripts/postgres starts one and prints it) to run this test", urlEnv)
	}
	return url
}

// testDB is a schema of its own for one test, dropped when it ends, so
// that tests run in parallel and again without seeing each other's
// tables.
type testDB struct {
	t      testing.TB
	url    string
	schema string
	conn   *pgx.Conn // the test's own connection, for checks
}

// schemaEnv passes a test's schema to the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N], which run the same test and inherit
// the environment: they use the schema instead of making one.
const schemaEnv = "SLUICE_POSTGRES_SOURCE_TEST_SCHEMA"

func newDB(t testing.TB) *testDB {
	t.Helper()
	url := serverURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	d := &testDB{t: t, url: url, conn: conn}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if s := os.Getenv(schemaEnv); s != "" {
		d.schema = s
		return d
	}
	d.schema = "sluice_src_test_" + strings.ToLower(rand.Text()[:12])
	d.exec("CREATE SCHEMA " + d.schema)
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+d.schema+" CASCADE"); err != nil {
			t.Errorf("dropping the test schema: %v", err)
		}
	})
	return d
}

// shareSchema makes worker processes started by this test use d's schema.
func (d *testDB) shareSchema(t *testing.T) {
	if os.Getenv(schemaEnv) == "" {
		t.Setenv(schemaEnv, d.schema)
	}
}

// name qualifies a table's name with the test's schema.
func (d *testDB) name(table string) string { return d.schema + "." + table }

func (d *testDB) exec(sql string, args ...any) {
	d.t.Helper()
	if _, err := d.conn.Exec(context.Background(), sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

// rows returns a query's rows, each printed as its values joined by
// spaces, sorted.
func (d *testDB) rows(sql string, args ...any) []string {
	d.t.Helper()
	rows, err := d.conn.Query(context.Background(), sql, args...)
	if err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		vals, err := r.Values()
		var parts []string
		for _, v := range vals {
			parts = append(parts, fmt.Sprint(v))
		}
		return strings.Join(parts, " "), err
	})
	if err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	slices.Sort(out)
	return out
}

func (d *testDB) count(table string) int {
	d.t.Helper()
	var n int
	if err := d.conn.QueryRow(context.Background(), "SELECT count(*) FROM "+d.name(table)).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}
