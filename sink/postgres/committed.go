package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Commit is one partition of one batch that a sink committed.
type Commit struct {
	Batch time.Time
	Part  int
	// Rows is the number of records the partition had (in upsert mode,
	// records of one key count once each, though one row holds them).
	Rows        int64
	CommittedAt time.Time
}

// Committed lists what sinks committed for output in the database url
// names, by batch then partition, from the marker table (MarkerTable among
// opts sets which; other options are ignored). It is for tests and tools:
// e.g. to check that every batch of a run was written, once.
func Committed(ctx context.Context, url, output string, opts ...Option) ([]Commit, error) {
	cfg := config{marker: pgx.Identifier{DefaultMarkerTable}}
	for _, o := range opts {
		o(&cfg)
	}
	pc, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("postgres: committed %q: %w", output, explain(pc.ConnConfig, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if oid, err := relation(ctx, conn, cfg.marker); err != nil || oid == nil {
		if err == nil {
			err = fmt.Errorf("the marker table %s does not exist (no sink wrote to this database with it)", cfg.marker.Sanitize())
		}
		return nil, fmt.Errorf("postgres: committed %q: %w", output, err)
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(
		`SELECT batch_ms, part, rows, committed_at FROM %s WHERE output = $1 ORDER BY batch_ms, part`, cfg.marker.Sanitize()), output)
	if err != nil {
		return nil, fmt.Errorf("postgres: committed %q: %w", output, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Commit, error) {
		var c Commit
		var ms int64
		err := r.Scan(&ms, &c.Part, &c.Rows, &c.CommittedAt)
		c.Batch = time.UnixMilli(ms)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: committed %q: %w", output, err)
	}
	return out, nil
}
