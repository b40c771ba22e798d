package postgres

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ordinalColumn numbers the rows of an upsert's staging table, so that
// the last record of a key wins.
const ordinalColumn = "sluice$ord"

// statements are a sink's SQL, made once by New.
type statements struct {
	// insertMarker inserts a key's marker unless there is one: it affects
	// no row if the key was committed. $1..$4: output, batch_ms, part,
	// rows.
	insertMarker string
	// staging is the temporary table an upsert copies into: made once
	// per connection (createStaging), emptied at every commit (ON COMMIT
	// DELETE ROWS) and between chunks (truncateStaging). Kept rather than
	// made and dropped by every write: that costs a write about a
	// millisecond and leaves dead rows in the system catalogs. Its name
	// is the target's and columns' hash: another sink's staging table
	// in the same session does not clash.
	staging pgx.Identifier
	// createStaging, truncateStaging and upsert are empty in append mode.
	createStaging   string
	truncateStaging string
	upsert          string
}

func buildStatements(table pgx.Identifier, columns []string, cfg config) statements {
	st := statements{insertMarker: fmt.Sprintf(
		`INSERT INTO %s (output, batch_ms, part, rows, committed_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING`,
		cfg.marker.Sanitize())}
	if len(cfg.upsertKeys) == 0 {
		return st
	}
	cols, keys := quoteAll(columns), quoteAll(cfg.upsertKeys)
	h := fnv.New64a()
	h.Write([]byte(table.Sanitize() + "(" + cols + ")"))
	st.staging = pgx.Identifier{"pg_temp", fmt.Sprintf("sluice_upsert_%016x", h.Sum64())}
	st.createStaging = fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS SELECT %s, 0::bigint AS %s FROM %s WITH NO DATA`,
		quote(st.staging[1]), cols, quote(ordinalColumn), table.Sanitize())
	st.truncateStaging = "TRUNCATE " + st.staging.Sanitize()
	var sets []string
	for _, c := range columns {
		if !slices.Contains(cfg.upsertKeys, c) {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%s", quote(c), quote(c)))
		}
	}
	action := "DO NOTHING" // every column is a key: nothing to update
	if len(sets) > 0 {
		action = "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	st.upsert = fmt.Sprintf(`INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, %s DESC ON CONFLICT (%s) %s`,
		table.Sanitize(), cols, keys, cols, st.staging.Sanitize(), keys, quote(ordinalColumn), keys, action)
	return st
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// markerTableDDL creates the marker table.
func markerTableDDL(marker pgx.Identifier) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	output       text        NOT NULL,
	batch_ms     bigint      NOT NULL,
	part         int         NOT NULL,
	rows         bigint      NOT NULL,
	committed_at timestamptz NOT NULL,
	PRIMARY KEY (output, batch_ms, part)
)`, marker.Sanitize())
}
