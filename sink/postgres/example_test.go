package postgres_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/postgres"
)

type order struct {
	ID    int64
	Shop  string
	Cents int64
}

// A job's build function makes the sink: every worker runs it and gets a
// sink of its own, which connects on its first write. (Compiled, not run
// here: it needs a server; TestWriteToEndToEnd runs such a job.)
func Example() {
	build := func(sc *sluice.Context) {
		q := sluice.NewQueue([]order{{1, "paris", 250}, {2, "oslo", 90}}, []order{{3, "rome", 120}})
		orders := postgres.New(os.Getenv("ORDERS_DB"), "orders", []string{"id", "shop", "cents"},
			func(o order) []any { return []any{o.ID, o.Shop, o.Cents} })
		sluice.WriteTo(sluice.QueueStream(sc, q, 2), orders, sluice.Named("orders"))
	}
	sluice.Main(build, sluice.Batch(time.Second))
}

// Upsert keeps one row per key: here a running total per shop, from
// UpdateStateByKey (whose partitions hold each key once, every batch). The
// table needs a unique index or primary key on shop.
func ExampleUpsert() {
	build := func(sc *sluice.Context) {
		q := sluice.NewQueue([]order{{1, "paris", 250}, {2, "oslo", 90}, {3, "paris", 10}})
		byShop := sluice.Map(sluice.QueueStream(sc, q, 2), func(o order) sluice.KV[string, int64] { return sluice.Pair(o.Shop, o.Cents) })
		totals := sluice.UpdateStateByKey(byShop, func(_ string, cents []int64, total int64, _ bool) (int64, bool) {
			for _, c := range cents {
				total += c
			}
			return total, true
		}, sluice.Named("totals"))
		sink := postgres.New(os.Getenv("ORDERS_DB"), "shop_totals", []string{"shop", "cents"},
			func(kv sluice.KV[string, int64]) []any { return []any{kv.Key, kv.Value} },
			postgres.Upsert("shop"))
		sluice.WriteTo(totals, sink, sluice.Named("shop-totals"))
	}
	sluice.Main(build, sluice.Batch(time.Second))
}

// Committed tells what a job wrote: one entry per partition of each batch.
func ExampleCommitted() {
	commits, err := postgres.Committed(context.Background(), os.Getenv("ORDERS_DB"), "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range commits {
		fmt.Printf("batch %d partition %d: %d rows\n", c.Batch.UnixMilli(), c.Part, c.Rows)
	}
}

// Nothing connects before the first Write, whose errors say what is
// wrong: here, no server listens at the URL's address.
func ExampleNew() {
	s := postgres.New("postgres://sluice:secret@127.0.0.1:1/sluice?sslmode=disable&connect_timeout=5",
		"orders", []string{"id", "shop", "cents"},
		func(o order) []any { return []any{o.ID, o.Shop, o.Cents} })
	defer s.Close()
	key := sluice.OutputKey{Output: "orders", Batch: time.UnixMilli(1000), Partition: 0, Partitions: 1}
	err := s.Write(context.Background(), key, []order{{1, "paris", 250}})
	fmt.Println(err)
	// Output:
	// postgres: write orders/1000/0: cannot connect to 127.0.0.1:1 (is the server running and reachable?): failed to connect to `user=sluice database=sluice`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused
}
