package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice"
)

const (
	// DefaultMaxBytes bounds an encoded snapshot unless MaxBytes says
	// otherwise: the metadata checkpoint, written after every batch,
	// holds a copy per batch the job may still recompute (see doc.go).
	DefaultMaxBytes = 4 << 20
	// MaxMaxBytes is the most MaxBytes may allow: a plan crosses to the
	// workers in one message of at most 64 MiB (the engine's RPC limit).
	MaxMaxBytes = 48 << 20
	// DefaultTimeout bounds taking a snapshot unless Timeout says
	// otherwise.
	DefaultTimeout = 30 * time.Second
)

// ErrClosed is returned by Plan after Close.
var ErrClosed = errors.New("postgres: source closed")

// ErrTooBig is wrapped by the error of a Plan whose snapshot passes
// MaxBytes: the batch fails (and the job stops) rather than carry it.
var ErrTooBig = errors.New("the snapshot passes MaxBytes")

// Plan is one batch's input: the snapshot of the table it reads. The
// batches of one refresh period share it.
type Plan struct {
	// Taken is the time (Unix ns) of the batch that took the snapshot.
	Taken int64
	// Rows is the number of rows; Parts the partitions reading them.
	Rows  int64
	Parts int
	// Data is the encoded snapshot (see snapshot.go).
	Data []byte
}

// Source is a PostgreSQL table or query as a sluice.Source: every batch of
// the stream sluice.FromSource makes of it holds the rows of the latest
// snapshot (see the package doc). Make one with Table or Query.
type Source[T any] struct {
	url   string
	label string         // the table's name as given, or "query"
	table pgx.Identifier // nil for a query
	query string
	scan  func(pgx.CollectableRow) (T, error)
	cfg   config

	mu sync.Mutex // guards the fields below; held while taking a snapshot
	// conn is the driver's connection, made by the first Plan (nil
	// until then, and after an error that may have broken it).
	conn *pgx.Conn
	// planned is set by the first Plan in this process: a driver takes
	// a fresh snapshot for the first batch it plans, even when resumed
	// from a checkpoint whose latest plan had one.
	planned bool
	closed  bool
}

type config struct {
	refresh  time.Duration // 0: static
	maxBytes int
	parts    int
	timeout  time.Duration
}

// Option configures a Source.
type Option func(*config)

// Refresh takes a new snapshot every d of batch time: the batch that is d
// or more after the one that took the current snapshot takes the next.
// Without it (or with d = 0) the table is static: read by the job's first
// batch, and by the first batch after a restart.
func Refresh(d time.Duration) Option { return func(c *config) { c.refresh = d } }

// MaxBytes bounds an encoded snapshot (its columns' text, plus a few bytes
// per value): a bigger table fails the batch that reads it, naming the
// limit. At most MaxMaxBytes; DefaultMaxBytes unless set.
func MaxBytes(n int) Option { return func(c *config) { c.maxBytes = n } }

// Partitions splits every batch's rows into n partitions (1 unless set).
func Partitions(n int) Option { return func(c *config) { c.parts = n } }

// Timeout bounds the taking of a snapshot, connecting included
// (DefaultTimeout unless set).
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Table reads a whole table (a name, optionally qualified by its schema:
// "shop.campaigns", quoted as given), ordered by its primary key if it has
// one. Each row becomes a T by scan, e.g. pgx.RowToStructByName[T]; a row
// scan fails on is a bad record at "table:key" (the primary key's values,
// comma-separated) or, without a primary key, "table:row N".
//
// url is a PostgreSQL URL or key=value string as pgx takes it (its
// connect_timeout is 10 s unless set). Only the driver connects, in Plan:
// workers decode what the plan carries. Arguments that cannot be right
// panic.
func Table[T any](url, table string, scan func(pgx.CollectableRow) (T, error), opts ...Option) *Source[T] {
	parts := strings.Split(table, ".")
	if len(parts) > 2 || slices.Contains(parts, "") {
		panic(fmt.Sprintf("postgres: Table: %q is not a table name (name or schema.name)", table))
	}
	return newSource(url, table, pgx.Identifier(parts), "", scan, opts)
}

// Query reads the rows of a query (a SELECT, without parameters), in the
// order it gives them: give it an ORDER BY to make the partitions'
// contents predictable. A row scan fails on is a bad record at
// "query:row N" (from 1). Otherwise as Table.
func Query[T any](url, query string, scan func(pgx.CollectableRow) (T, error), opts ...Option) *Source[T] {
	if strings.TrimSpace(query) == "" {
		panic("postgres: Query: empty query")
	}
	return newSource(url, "query", nil, query, scan, opts)
}

func newSource[T any](url, label string, table pgx.Identifier, query string, scan func(pgx.CollectableRow) (T, error), opts []Option) *Source[T] {
	s := &Source[T]{url: url, label: label, table: table, query: query, scan: scan,
		cfg: config{maxBytes: DefaultMaxBytes, parts: 1, timeout: DefaultTimeout}}
	for _, o := range opts {
		o(&s.cfg)
	}
	switch {
	case scan == nil:
		panic("postgres: nil scan function")
	case s.cfg.refresh < 0:
		panic(fmt.Sprintf("postgres: Refresh(%v): negative", s.cfg.refresh))
	case s.cfg.maxBytes <= 0 || s.cfg.maxBytes > MaxMaxBytes:
		panic(fmt.Sprintf("postgres: MaxBytes(%d): want 1 to %d", s.cfg.maxBytes, MaxMaxBytes))
	case s.cfg.parts < 1:
		panic(fmt.Sprintf("postgres: Partitions(%d): want at least 1", s.cfg.parts))
	case s.cfg.timeout <= 0:
		panic(fmt.Sprintf("postgres: Timeout(%v): want more than 0", s.cfg.timeout))
	}
	return s
}

// Plan reuses the previous batch's snapshot until a refresh is due (see
// Refresh), and otherwise takes one: it runs on the driver.
func (s *Source[T]) Plan(ctx context.Context, req sluice.PlanRequest[Plan]) (Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Plan{}, ErrClosed
	}
	first := !s.planned
	s.planned = true
	if req.HasPrev && !first && (s.cfg.refresh == 0 || req.Batch.UnixNano()-req.Prev.Taken < int64(s.cfg.refresh)) {
		return req.Prev, nil
	}
	data, rows, err := s.snapshot(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("postgres: %s: %w", s.label, err)
	}
	return Plan{Taken: req.Batch.UnixNano(), Rows: rows, Parts: s.cfg.parts, Data: data}, nil
}

// snapshot reads the table or query, encoded (s.mu held).
func (s *Source[T]) snapshot(ctx context.Context) ([]byte, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, 0, err
	}
	data, rows, err := s.read(ctx, conn)
	if err != nil && !isServerError(err) { // the connection may be broken: make a new one next time
		s.conn = nil
		conn.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return nil, 0, explain(conn.Config(), err)
	}
	return data, rows, nil
}

// read runs the snapshot's query in one statement, which sees one
// consistent state of the database.
func (s *Source[T]) read(ctx context.Context, conn *pgx.Conn) ([]byte, int64, error) {
	// Cancelled before the rows are closed when the snapshot is too big:
	// closing them would read the rest of the table.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	query, keys := s.query, []string(nil)
	if s.table != nil {
		var err error
		if keys, err = primaryKey(ctx, conn, s.table); err != nil {
			return nil, 0, err
		}
		query = "SELECT * FROM " + s.table.Sanitize()
		if len(keys) > 0 {
			query += " ORDER BY " + quoteAll(keys)
		}
	}
	rows, err := conn.Query(ctx, query, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) == 0 {
		return nil, 0, errors.New("the query returns no columns")
	}
	var keyIdx []int
	for _, k := range keys {
		keyIdx = append(keyIdx, slices.IndexFunc(fields, func(f pgconn.FieldDescription) bool { return f.Name == k }))
	}
	enc := newEncoder(s.label, fields, keyIdx, s.cfg.maxBytes)
	for rows.Next() {
		if err := enc.add(rows.RawValues()); err != nil {
			if errors.Is(err, errTooBig) {
				cancel()
				return nil, 0, fmt.Errorf("%w (%d bytes) at row %d: a snapshot travels in every batch's plan, to the workers and into the metadata checkpoint; select fewer rows or columns (Query), or raise MaxBytes (up to %d)",
					ErrTooBig, s.cfg.maxBytes, enc.rows, MaxMaxBytes)
			}
			return nil, 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return enc.buf, enc.rows, nil
}

// primaryKey returns the names of a table's primary key columns, in the
// key's order (none if it has no primary key).
func primaryKey(ctx context.Context, conn *pgx.Conn, table pgx.Identifier) ([]string, error) {
	var oid *uint32
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1)::oid`, table.Sanitize()).Scan(&oid); err != nil {
		return nil, err
	}
	if oid == nil {
		return nil, fmt.Errorf("table %s does not exist in database %q", table.Sanitize(), conn.Config().Database)
	}
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1 AND i.indisprimary
		ORDER BY array_position(i.indkey::int2[], a.attnum)`, *oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// connect returns the driver's connection, making it if needed (s.mu
// held).
func (s *Source[T]) connect(ctx context.Context) (*pgx.Conn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	cfg, err := pgx.ParseConfig(s.url) // its errors hide the password
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, explain(cfg, err)
	}
	s.conn = conn
	return conn, nil
}

// defaultConnectTimeout bounds a connection attempt unless the URL sets
// connect_timeout.
const defaultConnectTimeout = 10 * time.Second

// Parts is the plan's number of partitions (0 for an empty snapshot).
func (s *Source[T]) Parts(p Plan) int {
	if p.Rows == 0 {
		return 0
	}
	return p.Parts
}

// Read decodes partition part of the plan's snapshot and scans its rows,
// in a task: it needs no connection. A row scan fails on is a bad record.
func (s *Source[T]) Read(ctx context.Context, p Plan, part int) ([]T, []sluice.BadRecord, error) {
	if p.Parts < 1 || part < 0 || part >= p.Parts {
		return nil, nil, fmt.Errorf("postgres: %s: partition %d of %d", s.label, part, p.Parts)
	}
	snap, err := decodeSnapshot(p.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %s: %w", s.label, err)
	}
	lo, hi := p.Rows*int64(part)/int64(p.Parts), p.Rows*int64(part+1)/int64(p.Parts)
	r := &row{fields: snap.fields, types: pgtype.NewMap()}
	recs := make([]T, 0, hi-lo)
	var bad []sluice.BadRecord
	var values [][]byte
	for i := int64(0); i < hi; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var ok bool
		if values, ok, err = snap.next(values); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: %d rows, the plan says %d", errCorrupt, i, p.Rows)
			}
			return nil, nil, fmt.Errorf("postgres: %s: %w", s.label, err)
		}
		if i < lo {
			continue
		}
		r.values = values
		rec, err := s.scan(r)
		if err != nil {
			bad = append(bad, sluice.BadRecord{Position: snap.position(i, values), Value: snap.json(values), Error: err.Error()})
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

// Close closes the driver's connection; a later Plan fails with
// ErrClosed.
func (s *Source[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(context.Background())
	s.conn = nil
	return err
}

// isServerError reports whether err came from the server (the connection
// is still good).
func isServerError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// explain adds to an error what the user can do about it.
func explain(cc *pgx.ConnConfig, err error) error {
	where := fmt.Sprintf("%s:%d", cc.Host, cc.Port)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return fmt.Errorf("cannot log in to %s as %q (check the user and password in the URL): %w", where, cc.User, err)
		case "3D000": // invalid_catalog_name
			return fmt.Errorf("database %q does not exist on %s: %w", cc.Database, where, err)
		case "42501": // insufficient_privilege
			return fmt.Errorf("user %q lacks a privilege: %w", cc.User, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot connect to %s (is the server running and reachable?): %w", where, err)
	}
	return err
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}
