package postgres_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sink/postgres"
)

// An upsert of more records than ChunkRows merges chunk by chunk in one
// transaction: the last record of a key wins across chunks too, a rerun
// does nothing, and a failing record names its place in the partition.
func TestUpsertChunks(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("totals") + " (shop text PRIMARY KEY, cents bigint NOT NULL)")
	// One connection: the staging table it keeps must be empty at each
	// write.
	u := withParams(t, d.url, "pool_max_conns", "1")
	s := postgres.New(u, d.name("totals"), []string{"shop", "cents"}, saleRow,
		postgres.Upsert("shop"), postgres.ChunkRows(3), postgres.MarkerTable(d.name("markers")))
	defer s.Close()
	recs := []sale{{"a", 1}, {"b", 1}, {"a", 2}, {"c", 1}, {"a", 3}, {"b", 2}, {"d", 1}} // chunks: aba cab d
	for range 2 {
		if err := s.Write(bg, key("totals", 1000, 0), recs); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := d.rows("SELECT shop, cents FROM "+d.name("totals")), []string{"a 3", "b 2", "c 1", "d 1"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %q, want %q", got, want)
	}
	if got, want := committed(t, d, "totals"), []string{"1000/0:7"}; !slices.Equal(got, want) {
		t.Fatalf("committed %q, want %q", got, want)
	}
	// Nothing of the last write is left in the staging table.
	d.exec("DELETE FROM " + d.name("totals"))
	if err := s.Write(bg, key("totals", 2000, 0), []sale{{"e", 1}}); err != nil {
		t.Fatal(err)
	}
	if got := d.rows("SELECT shop, cents FROM " + d.name("totals")); !slices.Equal(got, []string{"e 1"}) {
		t.Fatalf("table holds %q, want only the last write's row", got)
	}

	n := 0
	bad := postgres.New(u, d.name("totals"), []string{"shop", "cents"}, func(r sale) []any {
		if n++; n == 5 {
			return []any{r.Shop}
		}
		return saleRow(r)
	}, postgres.Upsert("shop"), postgres.ChunkRows(3), postgres.MarkerTable(d.name("markers")))
	defer bad.Close()
	err := bad.Write(bg, key("totals", 3000, 0), sales(6, "z"))
	if err == nil || !strings.Contains(err.Error(), "record 4 has 1 values") {
		t.Fatalf("Write = %v, want an error naming record 4", err)
	}
	if got := d.rows("SELECT shop FROM " + d.name("totals")); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("a failed write left rows: %q", got)
	}
}
