// Command postgres joins a stream of ad clicks with a table of campaigns
// in PostgreSQL, refreshed every 10 s, and keeps the clicks per campaign
// in a results table, exactly once: each batch's totals are upserted with
// the batch's marker, so a batch run again changes nothing.
//
// It needs a PostgreSQL server; scripts/postgres starts one (as root, on
// Debian) and prints its URL:
//
//	export SLUICE_POSTGRES=$(scripts/postgres | tail -1)
//	go run ./examples/postgres --master 'local[2]' --duration 30s
//	psql "$SLUICE_POSTGRES" -c 'SELECT * FROM ad_clicks ORDER BY campaign_id'
//
// (or give the URL with --postgres). It makes its tables if missing:
// ad_campaigns (id, name, active), seeded with seven campaigns, and
// ad_clicks (campaign_id, name, clicks). Change the campaigns while it
// runs and the totals follow from the next refresh on:
//
//	psql "$SLUICE_POSTGRES" -c "UPDATE ad_campaigns SET active = false WHERE id = 3"
//
// Clicks of campaigns without an active row are not counted. The clicks
// are generated (sluice.Generate): click i is on a campaign from 1 to 8
// chosen by hashing i, so a rerun makes the same clicks. With
// --checkpoint DIR the totals survive a restart (the job resumes from
// DIR); without, a new run counts from zero again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	pgsink "github.com/sluicehq/sluice/sink/postgres"
	pgsource "github.com/sluicehq/sluice/source/postgres"
)

// Click is one ad click on a campaign.
type Click struct {
	ID       int64
	Campaign int64
}

// Campaign is a row of the campaigns table.
type Campaign struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
}

// Total is a campaign's clicks so far.
type Total struct {
	Name   string
	Clicks int64
}

// campaignOf is click i's campaign: 1 to 8, by a multiplicative hash.
func campaignOf(i int64) int64 { return int64(uint64(i)*0x9E3779B97F4A7C15>>61) + 1 }

// clicks makes clicks [from, to).
func clicks(from, to int64, _, _ time.Time) []Click {
	out := make([]Click, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, Click{ID: i, Campaign: campaignOf(i)})
	}
	return out
}

// job is the streaming job and what it needs.
type job struct {
	url       string
	rate      int           // clicks per second
	refresh   time.Duration // of the campaigns table
	campaigns string        // the tables' names
	results   string
	markers   string // the sink's marker table ("": the default)
	// sinks made by build, closed when the job ended.
	sinks []interface{ Close() }
}

func (j *job) build(c *sluice.Context) {
	active := pgsource.Query(j.url, "SELECT id, name FROM "+j.campaigns+" WHERE active ORDER BY id",
		pgx.RowToStructByName[Campaign], pgsource.Refresh(j.refresh))
	campaigns := sluice.FromSource(c, active, sluice.Named("campaigns"))
	byCampaign := sluice.Map(sluice.Generate(c, sluice.GeneratorFunc[Click](clicks), j.rate),
		func(k Click) sluice.KV[int64, int64] { return sluice.Pair(k.Campaign, int64(1)) })
	joined := pgsource.JoinTable(byCampaign, campaigns, func(c Campaign) int64 { return c.ID })
	batch := sluice.ReduceByKey(sluice.Map(joined, func(kv sluice.KV[int64, sluice.Joined[int64, Campaign]]) sluice.KV[int64, Total] {
		return sluice.Pair(kv.Key, Total{Name: kv.Value.Right.Name, Clicks: kv.Value.Left})
	}), func(a, b Total) Total { return Total{Name: a.Name, Clicks: a.Clicks + b.Clicks} })
	totals := sluice.UpdateStateByKey(batch, func(_ int64, news []Total, t Total, _ bool) (Total, bool) {
		for _, n := range news {
			t.Name, t.Clicks = n.Name, t.Clicks+n.Clicks
		}
		return t, true
	}, sluice.Named("clicks-by-campaign"))
	opts := []pgsink.Option{pgsink.Upsert("campaign_id")}
	if j.markers != "" {
		opts = append(opts, pgsink.MarkerTable(j.markers))
	}
	sink := pgsink.New(j.url, j.results, []string{"campaign_id", "name", "clicks"},
		func(kv sluice.KV[int64, Total]) []any { return []any{kv.Key, kv.Value.Name, kv.Value.Clicks} }, opts...)
	j.sinks = append(j.sinks, sink)
	sluice.WriteTo(totals, sink, sluice.Named("ad-clicks"))
}

// setup makes the tables if missing, and seeds the campaigns.
func (j *job) setup(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, j.url)
	if err != nil {
		return fmt.Errorf("postgres example: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"CREATE TABLE IF NOT EXISTS " + j.campaigns + " (id bigint PRIMARY KEY, name text NOT NULL, active boolean NOT NULL DEFAULT true)",
		"INSERT INTO " + j.campaigns + ` VALUES (1, 'spring-sale', true), (2, 'summer-sale', true), (3, 'back-to-school', true),
			(4, 'black-friday', true), (5, 'winter-sale', true), (6, 'new-year', true), (7, 'retired', false)
			ON CONFLICT DO NOTHING`,
		"CREATE TABLE IF NOT EXISTS " + j.results + " (campaign_id bigint PRIMARY KEY, name text NOT NULL, clicks bigint NOT NULL)",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres example: setting up the tables: %w", err)
		}
	}
	return nil
}

func (j *job) close() {
	for _, s := range j.sinks {
		s.Close()
	}
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run is sluice.Run with the example's flags (--postgres, --rate,
// --refresh) added to the engine's.
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "worker" { // a standalone worker
		return sluice.WorkerMain(ctx, args[1:])
	}
	f := sluice.Flags{Batch: time.Second}
	fs := flag.NewFlagSet("postgres", flag.ContinueOnError)
	f.Register(fs)
	j := &job{campaigns: "ad_campaigns", results: "ad_clicks"}
	fs.StringVar(&j.url, "postgres", os.Getenv("SLUICE_POSTGRES"), "PostgreSQL URL (default: $SLUICE_POSTGRES)")
	fs.IntVar(&j.rate, "rate", 1000, "clicks per second")
	fs.DurationVar(&j.refresh, "refresh", 10*time.Second, "how often the campaigns table is read again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if j.url == "" {
		return errors.New("postgres example: no database: give --postgres URL or set SLUICE_POSTGRES (scripts/postgres prints one)")
	}
	if !sluice.IsWorker() {
		if err := j.setup(ctx); err != nil {
			return err
		}
	}
	c, err := sluice.NewContext(f.Options()...)
	if err != nil {
		return err
	}
	j.build(c)
	defer j.close()
	return sluice.RunUntilDone(ctx, c, f.Duration)
}
