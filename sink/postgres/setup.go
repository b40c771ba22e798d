package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultConnectTimeout bounds a connection attempt unless the URL sets
// connect_timeout: an unreachable host fails a write instead of hanging it.
const defaultConnectTimeout = 10 * time.Second

// open returns the sink's pool, opening it and checking the tables on
// first use. A failed check is made again by the next write (the table
// may have been created meanwhile).
func (s *Sink[T]) open(ctx context.Context) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.pool == nil {
		cfg, err := parseURL(s.url)
		if err != nil {
			return nil, err
		}
		if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	if !s.ready {
		if err := s.prepare(ctx, s.pool); err != nil {
			return nil, s.explain(s.pool, err)
		}
		s.ready = true
	}
	return s.pool, nil
}

// parseURL parses a connection URL with the sink's defaults.
func parseURL(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url) // its errors hide the password
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}

// prepare checks that the table has the sink's columns and makes the
// marker table if missing.
func (s *Sink[T]) prepare(ctx context.Context, pool *pgxpool.Pool) error {
	oid, err := relation(ctx, pool, s.table)
	if err != nil {
		return err
	}
	if oid == nil {
		return fmt.Errorf("table %s does not exist in database %q", s.table.Sanitize(), pool.Config().ConnConfig.Database)
	}
	rows, err := pool.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`, *oid)
	if err != nil {
		return err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var missing []string
	for _, c := range s.columns {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s has no column %s (it has %s)", s.table.Sanitize(), strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	return ensureMarkerTable(ctx, pool, s.cfg.marker)
}

// relation returns the oid of a table, nil if there is none.
func relation(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name pgx.Identifier) (*uint32, error) {
	var oid *uint32
	err := q.QueryRow(ctx, `SELECT to_regclass($1)::oid`, name.Sanitize()).Scan(&oid)
	return oid, err
}

// ensureMarkerTable creates the marker table if it is missing. Workers
// that start together would race to create it: an advisory lock, held to
// the end of the transaction, lets one create it and the others find it.
func ensureMarkerTable(ctx context.Context, pool *pgxpool.Pool, marker pgx.Identifier) error {
	if oid, err := relation(ctx, pool, marker); err != nil || oid != nil {
		return err // there already: creating needs rights that a user of it may lack
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "sluice marker "+marker.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, markerTableDDL(marker))
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the marker table %s: %w", marker.Sanitize(), err)
	}
	return nil
}

// explain adds to an error from the server what the user can do about it.
func (s *Sink[T]) explain(pool *pgxpool.Pool, err error) error {
	return explain(pool.Config().ConnConfig, err)
}

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
