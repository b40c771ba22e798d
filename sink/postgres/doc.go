// Package postgres is an exactly-once PostgreSQL sink for Sluice streams:
// every record becomes a row of a table, written with sluice.WriteTo:
//
//	sales := postgres.New(url, "shop.sales", []string{"shop", "cents"},
//		func(s Sale) []any { return []any{s.Shop, s.Cents} })
//	defer sales.Close()
//	sluice.WriteTo(stream, sales, sluice.Named("sales"))
//
// The engine may write a partition more than once (a batch run again
// after a lost worker or a restarted driver, or two speculative attempts
// at once), always with the same records. The sink writes each partition
// of each batch in one transaction that first inserts a marker row keyed
// by (output, batch, partition) into a marker table (sluice_outputs,
// created if missing):
//
//	output text, batch_ms bigint, part int, rows bigint, committed_at timestamptz,
//	primary key (output, batch_ms, part)
//
// If the marker is already there, the partition was committed and the
// write does nothing; otherwise it copies the rows in with COPY and
// commits rows and marker together. Of two concurrent attempts, the second
// one's marker insert waits for the first transaction and then finds the
// marker (or, if the first failed, goes on and writes the rows). A write
// that fails or is interrupted anywhere commits nothing, and one whose
// commit succeeded although its connection then failed is skipped when
// run again, so every record is written exactly once. Committed lists the
// markers, for tests and tools.
//
// Rows are appended by default; Upsert updates the rows whose key columns
// match instead (INSERT … ON CONFLICT … DO UPDATE, through a temporary
// table filled by COPY). The rows of one partition become visible
// together, and those of a batch partition by partition.
//
// Both modes copy with COPY, which pgx streams in 64 KiB messages, so a
// partition's size is bounded by its records alone. An upsert copies into
// a temporary staging table (one per connection, emptied at commit) and
// merges it into the table ChunkRows records at a time (50 000 unless
// set), which bounds the staging table and the merge's sort.
//
// BenchmarkWrite measures rows written per second. On a shared 2-core
// machine with PostgreSQL 15 on the same host (default settings,
// synchronous commit): appending partitions of 200 000 records of two
// columns, about 1.3 million rows/s; upserting them into a table with a
// primary key, about 125 000 rows/s when every key is new and 70 000 when
// every key updates a row. The merge's INSERT … ON CONFLICT dominates an
// upsert (the copy into the staging table and its sort take about 15%).
// Small partitions are bound by the commit: about 5 ms for 100 records
// appended, 8 to 10 ms upserted.
//
// Every worker builds the sink (the job's build function runs on each), so
// nothing connects until the first Write, which also checks that the table
// and its columns exist; errors name what is wrong: the login, the
// server's address, the table or column, a record whose row has the wrong
// number of values. Close closes the connections.
//
// The driver is github.com/jackc/pgx/v5 (DESIGN.md section 9): the
// maintained, pure-Go PostgreSQL driver, whose native interface (rather
// than database/sql) gives the COPY protocol (CopyFrom, far faster than
// INSERTs for a batch of rows), typed server errors (pgconn.PgError with
// its SQLSTATE code, to tell a lost race on the marker from a real
// failure) and a connection pool (pgxpool) safe for the concurrent
// partitions of a worker.
package postgres
