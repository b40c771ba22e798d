package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
)

// DefaultMarkerTable is the table of markers, one per (output, batch,
// partition) committed, unless MarkerTable says otherwise.
const DefaultMarkerTable = "sluice_outputs"

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("postgres: sink closed")

// Sink writes a stream's records as rows of a table, each partition of each
// batch exactly once: in one transaction with a marker row that a repeated
// write finds. It is safe for concurrent use.
type Sink[T any] struct {
	url     string
	table   pgx.Identifier
	columns []string
	row     func(T) []any
	cfg     config
	sql     statements

	mu sync.Mutex // guards the fields below, and opening
	// pool is nil until the first Write opens it (or after Close).
	pool *pgxpool.Pool
	// ready is set once the marker table exists and the table was
	// checked, on the pool.
	ready  bool
	closed bool
}

// config holds the options.
type config struct {
	// upsertKeys are the key columns in upsert mode; empty: append.
	upsertKeys []string
	// chunkRows is the most records an upsert stages and merges at once.
	chunkRows int
	marker    pgx.Identifier
}

// DefaultChunkRows is how many records an upsert stages and merges at a
// time unless ChunkRows says otherwise.
const DefaultChunkRows = 50_000

// Option configures a Sink (and Committed).
type Option func(*config)

// Upsert makes the sink update rows instead of adding them: a record whose
// key columns match a row's replaces that row's other columns (INSERT … ON
// CONFLICT (keys) DO UPDATE). The key columns must be among the sink's
// columns and carry a unique index or primary key. Within one partition
// of a batch the last record of a key wins; records of one key should not
// be in two partitions of the same batch (they are not after a
// ReduceByKey), since partitions commit in no set order.
func Upsert(keyColumns ...string) Option {
	return func(c *config) { c.upsertKeys = slices.Clone(keyColumns) }
}

// ChunkRows makes an upsert stage and merge at most n records at a time
// (DefaultChunkRows unless set): a partition of more is copied into the
// staging table and merged into the table chunk by chunk, all in its one
// transaction (a later chunk's record of a key wins, as within a chunk).
// It bounds the staging table and the merge's sort, which past work_mem
// spills to disk. Append mode copies every record in one COPY, which
// streams: it needs no chunks.
func ChunkRows(n int) Option {
	return func(c *config) { c.chunkRows = n }
}

// MarkerTable sets the table that records what was committed, made if
// missing (DefaultMarkerTable, in the search path's first schema, unless
// set): a name, optionally qualified by its schema ("audit.outputs").
func MarkerTable(name string) Option {
	return func(c *config) { c.marker = mustIdent("MarkerTable", name) }
}

// New returns a sink that writes records to table (a name, optionally
// qualified by its schema: "shop.sales"), one row per record: row returns
// the values of the given columns, in their order. Names are quoted as
// given, so give them as PostgreSQL stores them (lower case for names
// created unquoted).
//
// The database is the one url names, a PostgreSQL URL or key=value
// string as pgx takes it (its pool_max_conns, connect_timeout and
// application_name parameters are honoured; the connect timeout is 10 s
// unless set). Nothing connects until the first Write, since every worker
// builds the sink: errors about the server, the login or the table come
// from Write. Arguments that cannot be right (no columns, a nil row
// function, upsert keys that are not columns) panic.
func New[T any](url, table string, columns []string, row func(T) []any, opts ...Option) *Sink[T] {
	s := &Sink[T]{url: url, table: mustIdent("New", table), columns: slices.Clone(columns), row: row,
		cfg: config{marker: pgx.Identifier{DefaultMarkerTable}, chunkRows: DefaultChunkRows}}
	for _, o := range opts {
		o(&s.cfg)
	}
	switch {
	case len(columns) == 0:
		panic("postgres: New: no columns")
	case row == nil:
		panic("postgres: New: nil row function")
	case s.cfg.chunkRows < 1:
		panic(fmt.Sprintf("postgres: ChunkRows(%d): want at least 1", s.cfg.chunkRows))
	}
	for i, c := range columns {
		if c == "" || slices.Contains(columns[:i], c) {
			panic(fmt.Sprintf("postgres: New: column %q is empty or given twice", c))
		}
	}
	for _, k := range s.cfg.upsertKeys {
		if !slices.Contains(columns, k) {
			panic(fmt.Sprintf("postgres: Upsert: key column %q is not among the columns %v", k, columns))
		}
	}
	s.sql = buildStatements(s.table, columns, s.cfg)
	return s
}

// mustIdent parses a possibly schema-qualified name.
func mustIdent(fn, name string) pgx.Identifier {
	parts := strings.Split(name, ".")
	if len(parts) > 2 || slices.Contains(parts, "") {
		panic(fmt.Sprintf("postgres: %s: %q is not a table name (name or schema.name)", fn, name))
	}
	return pgx.Identifier(parts)
}

// Write writes one partition of one batch in one transaction: it inserts
// the key's marker row first; if the marker was there already (an earlier
// run, or a concurrent attempt that committed first, whose commit the
// insert waits for) it does nothing more; otherwise it copies the rows in
// (COPY) and commits both. A write that fails or is interrupted commits
// nothing, so running it again writes the rows once.
func (s *Sink[T]) Write(ctx context.Context, key sluice.OutputKey, records []T) error {
	pool, err := s.open(ctx)
	if err != nil {
		return fmt.Errorf("postgres: write %v: %w", key, err)
	}
	if err := s.write(ctx, pool, key, records); err != nil {
		if isUniqueViolation(err, s.cfg.marker) {
			return nil // a concurrent attempt committed the key first
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// pgx may report the connection it closed on cancellation.
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return fmt.Errorf("postgres: write %v to %s: %w", key, s.table.Sanitize(), s.explain(pool, err))
	}
	return nil
}

func (s *Sink[T]) write(ctx context.Context, pool *pgxpool.Pool, key sluice.OutputKey, records []T) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit: a no-op
	tag, err := tx.Exec(ctx, s.sql.insertMarker, key.Output, key.Batch.UnixMilli(), key.Partition, len(records))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil // committed before
	}
	if len(records) > 0 { // an empty partition commits its marker alone
		if err := s.copyRows(ctx, tx, records); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// copyRows copies the records into the table, or in upsert mode into the
// staging table, merged into it chunk by chunk.
func (s *Sink[T]) copyRows(ctx context.Context, tx pgx.Tx, records []T) error {
	if s.sql.upsert == "" {
		return copyChunk(ctx, tx, s.table, s.columns, &rowSource[T]{records: records, row: s.row, columns: s.columns, i: -1})
	}
	if _, err := tx.Exec(ctx, s.sql.createStaging); err != nil {
		return err
	}
	columns := append(slices.Clip(s.columns), ordinalColumn)
	for lo := 0; lo < len(records); lo += s.cfg.chunkRows {
		if lo > 0 {
			if _, err := tx.Exec(ctx, s.sql.truncateStaging); err != nil {
				return err
			}
		}
		hi := min(lo+s.cfg.chunkRows, len(records))
		src := &rowSource[T]{records: records[lo:hi], row: s.row, columns: s.columns, i: -1, ordinal: true, base: lo}
		if err := copyChunk(ctx, tx, s.sql.staging, columns, src); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.sql.upsert); err != nil {
			return err
		}
	}
	return nil
}

// copyChunk copies src's records into table.
func copyChunk[T any](ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, src *rowSource[T]) error {
	n, err := tx.CopyFrom(ctx, table, columns, src)
	if err != nil {
		return err
	}
	if n != int64(len(src.records)) {
		return fmt.Errorf("copied %d rows of %d records", n, len(src.records))
	}
	return nil
}

// rowSource feeds COPY, calling row record by record.
type rowSource[T any] struct {
	records []T
	row     func(T) []any
	columns []string
	ordinal bool // add the record's index (base+i) as a last value
	base    int  // the index of records[0] in the partition
	i       int  // the current record
	values  []any
	err     error
}

func (r *rowSource[T]) Next() bool {
	r.i++
	if r.err != nil || r.i >= len(r.records) {
		return false
	}
	r.values = r.row(r.records[r.i])
	if len(r.values) != len(r.columns) {
		r.err = fmt.Errorf("record %d has %d values for the %d columns %s", r.base+r.i, len(r.values), len(r.columns), strings.Join(r.columns, ", "))
		return false
	}
	if r.ordinal {
		r.values = append(slices.Clip(r.values), int64(r.base+r.i))
	}
	return true
}

func (r *rowSource[T]) Values() ([]any, error) { return r.values, nil }
func (r *rowSource[T]) Err() error             { return r.err }

// Close closes the sink's connections; later writes fail with ErrClosed.
func (s *Sink[T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
}

// isUniqueViolation reports whether err is a unique violation on table.
func isUniqueViolation(err error, table pgx.Identifier) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == table[len(table)-1]
}
