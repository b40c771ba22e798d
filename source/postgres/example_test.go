package postgres_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/source/postgres"
)

type Campaign struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
}

type Click struct {
	Campaign int64
	User     string
}

// A stream of clicks joined with a campaigns table read again every 10 s.
// (Compiled, not run here: it needs a server; TestStaticTableJoin and
// examples/postgres run such jobs.)
func Example() {
	build := func(c *sluice.Context) {
		src := postgres.Table(os.Getenv("ADS_DB"), "ads.campaigns", pgx.RowToStructByName[Campaign],
			postgres.Refresh(10*time.Second))
		campaigns := sluice.FromSource(c, src, sluice.Named("campaigns"))
		q := sluice.NewQueue([]Click{{1, "ann"}, {2, "bob"}})
		clicks := sluice.Map(sluice.QueueStream(c, q, 2), func(k Click) sluice.KV[int64, Click] { return sluice.Pair(k.Campaign, k) })
		joined := postgres.JoinTable(clicks, campaigns, func(c Campaign) int64 { return c.ID })
		sluice.Print(joined, 10)
	}
	sluice.Main(build, sluice.Batch(time.Second))
}

// Any combination of a batch with the table's snapshot of that batch:
// here the clicks of campaigns the table lacks, with TransformWith.
func Example_transformWith() {
	build := func(c *sluice.Context) {
		src := postgres.Query(os.Getenv("ADS_DB"), "SELECT id, name FROM ads.campaigns WHERE active ORDER BY id",
			pgx.RowToStructByName[Campaign], postgres.Refresh(time.Minute))
		campaigns := sluice.FromSource(c, src, sluice.Named("active-campaigns"))
		q := sluice.NewQueue([]Click{{1, "ann"}, {9, "eve"}})
		clicks := sluice.Map(sluice.QueueStream(c, q, 2), func(k Click) sluice.KV[int64, Click] { return sluice.Pair(k.Campaign, k) })
		keyed := sluice.Map(campaigns, func(c Campaign) sluice.KV[int64, Campaign] { return sluice.Pair(c.ID, c) })
		unknown := sluice.TransformWith(clicks, keyed, func(ks sluice.Dataset[sluice.KV[int64, Click]], cs sluice.Dataset[sluice.KV[int64, Campaign]], _ time.Time) sluice.Dataset[Click] {
			type row = sluice.KV[int64, sluice.Joined[Click, sluice.Optional[Campaign]]]
			missing := dataset.LeftOuterJoin(ks, cs).Filter(func(r row) bool { return !r.Value.Right.Valid })
			return dataset.Map(missing, func(r row) Click { return r.Value.Left })
		})
		sluice.Print(unknown, 10)
	}
	sluice.Main(build, sluice.Batch(time.Second))
}

// Plan and Read can be called directly, e.g. to check what a job would
// read.
func ExampleSource_Plan() {
	src := postgres.Table(os.Getenv("ADS_DB"), "ads.campaigns", pgx.RowToStructByName[Campaign])
	defer src.Close()
	plan, err := src.Plan(context.Background(), sluice.PlanRequest[postgres.Plan]{Batch: time.Now(), Limit: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	rows, bad, err := src.Read(context.Background(), plan, 0)
	fmt.Println(len(rows), len(bad), err, plan.Rows, len(plan.Data))
}
