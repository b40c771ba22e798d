package postgres

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// stagingTable is the temporary table an upsert copies into, dropped at
// commit; ordinalColumn numbers its rows, so that the last record of a
// key wins.
var stagingTable = pgx.Identifier{"pg_temp", "sluice_upsert"}

const ordinalColumn = "sluice$ord"

// statements are a sink's SQL, made once by New.
type statements struct {
	// insertMarker inserts a key's marker unless there is one: it affects
	// no row if the key was committed. $1..$4: output, batch_ms, part,
	// rows.
	insertMarker string
	// createStaging and upsert are empty in append mode.
	createStaging string
	upsert        string
}

func buildStatements(table pgx.Identifier, columns []string, cfg config) statements {
	st := statements{insertMarker: fmt.Sprintf(
		`INSERT INTO %s (output, batch_ms, part, rows, committed_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING`,
		cfg.marker.Sanitize())}
	if len(cfg.upsertKeys) == 0 {
		return st
	}
	cols, keys := quoteAll(columns), quoteAll(cfg.upsertKeys)
	st.createStaging = fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s, 0::bigint AS %s FROM %s WITH NO DATA`,
		stagingTable[1], cols, quote(ordinalColumn), table.Sanitize())
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
		table.Sanitize(), cols, keys, cols, stagingTable.Sanitize(), keys, quote(ordinalColumn), keys, action)
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
