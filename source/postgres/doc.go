// Package postgres reads a PostgreSQL table, or a query's rows, as a
// dataset that every batch of a stream can be joined with: a table of
// campaigns, a fraud model's parameters, a list of blocked accounts. It is
// a sluice.Source whose every batch is the table's latest snapshot, taken
// once (a static table) or again every Refresh period:
//
//	src := postgres.Table(url, "ads.campaigns", pgx.RowToStructByName[Campaign],
//		postgres.Refresh(10*time.Second))
//	campaigns := sluice.FromSource(c, src, sluice.Named("campaigns"))
//	// clicks is a *sluice.Stream[sluice.KV[int64, Click]], keyed by campaign id
//	joined := postgres.JoinTable(clicks, campaigns, func(c Campaign) int64 { return c.ID })
//
// JoinTable is sluice.Join with the rows keyed by a function
// (LeftJoinTable: sluice.LeftOuterJoin); sluice.TransformWith gives any
// other combination of a batch with the table's dataset of that batch.
//
// # Every batch reads the snapshot it planned
//
// A batch must compute the same result however many times it runs (a
// partition lost with a worker, a batch rerun by a restarted driver). So
// the table is read on the driver, when a batch is planned, in one
// statement (one consistent state of the database), and the plan carries
// the rows themselves, encoded: the driver keeps them with the batch,
// hands them to the workers that read it, and records them in the
// metadata checkpoint, from which a restarted driver reruns the batches it
// had planned with the same rows. Tasks never connect to the database:
// they decode and scan the rows the plan holds. The batches of one refresh
// period share their plan (the same bytes).
//
// Carrying the rows is exact and simple, at a price: a snapshot is in
// memory on the driver, goes to the workers with every batch, and is in
// the metadata checkpoint (written after every batch) once per batch the
// job may still compute again: the batches not yet completed and, with
// stateful operators, those since their latest state checkpoint. Hence
// the limit, MaxBytes (4 MiB unless set, 48 MiB at most, below the
// engine's 64 MiB message limit; mind the metadata checkpoint's 256 MiB):
// a bigger snapshot fails its batch with an error that says so (ErrTooBig).
// The alternatives were worse for the tables this is for (up to some
// megabytes):
//   - copying each snapshot into a versioned table that the plan names
//     scales further, but needs the right to write to the database and a
//     rule for dropping old versions that no rerun may need (the engine
//     does not say which batches a lineage recovery may recompute);
//   - a plan carrying only a hash of the contents, checked by the tasks,
//     cannot recompute a batch once the table changed: it fails instead,
//     which is not exactly-once.
//
// BenchmarkSnapshot measures the cost: for a table of 50 000 rows of
// three columns (a snapshot of 1.2 MB), on a shared 2-core machine with
// the server on the same host, taking a snapshot (Plan) takes about 20 ms
// and decoding and scanning it with pgx.RowToStructByName (Read) about
// 25 ms, some 2 million rows/s each.
//
// # Refresh and restarts
//
// With Refresh(d), the first batch d or more of batch time after the one
// that took the current snapshot takes the next; batch time (not the wall
// clock) decides, so a rerun plans alike. A change to the table shows from
// the next refresh on, never within a refresh period. A driver takes a
// snapshot for the first batch it plans, even when it resumed from a
// checkpoint: the batches the checkpoint had planned are rerun with their
// recorded snapshots, and the new ones read the table as it is now. A
// static table is thus read once per run of the job.
//
// If a snapshot cannot be taken (the server is down, the table is gone)
// the batch fails and the job stops: a stale table would be a silent
// error. Taking one is bounded by Timeout (30 s unless set).
//
// # Rows and bad rows
//
// A row becomes a T by the scan function, which gets a pgx.CollectableRow
// (pgx.RowToStructByName[T], pgx.RowToMap, or a function calling Scan). A
// row it fails on is a bad record (sluice.BadRecord): it fails the batch,
// or goes to the input's dead-letter sink (sluice.DeadLetter), with its
// position, "schema.table:key" (the primary key's values,
// comma-separated) for a table that has one, else "table:row N" or
// "query:row N" (from 1), and its value, a JSON object of the row's
// columns in text form. A table is read in the order of its primary key.
//
// Values travel in PostgreSQL's text format, not the binary one: the
// workers decode them with pgx's default type map, which needs no
// connection and knows the binary form of built-in types only, while
// every type (enums, domains, extensions' types) has a text form that
// scans into a string at least; and a bad row's value is readable.
//
// # Dependencies
//
// The driver is github.com/jackc/pgx/v5 (DESIGN.md section 9), as for
// the PostgreSQL sink: the maintained, pure-Go PostgreSQL driver, whose
// native interface gives the rows' raw values (to carry them as the
// server sent them), the pgtype codecs that decode them without a
// connection, and the CollectableRow scan functions users already know.
package postgres
