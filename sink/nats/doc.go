// Package nats is a Sluice sink that publishes a stream's records to a
// NATS subject through JetStream, exactly once within the stream's
// duplicate window:
//
//	counts := nats.New("nats://localhost:4222", "counts", nats.JSON[Count])
//	defer counts.Close()
//	sluice.WriteTo(stream, counts, sluice.Named("counts"))
//
// A JetStream stream must capture the subject. Each record becomes one
// message carrying headers that name where it came from (Sluice-Output,
// Sluice-Batch, Sluice-Partition) and a message id (Nats-Msg-Id) made of
// its output, batch, partition and index in the partition (MsgID). The
// engine may write a partition more than once (a batch run again after a
// lost worker or a restarted driver, two speculative attempts at once),
// always with the same records in the same order, so with the same ids:
// the stream drops a message whose id it stored within its duplicate
// window (the stream's Duplicates setting, two minutes by default), and
// every record is stored once, even when an attempt died half way, or two
// ran at once.
//
// The window is the limit: a partition written again later than the
// window after its first write is stored twice. The first Write checks
// the stream's window against MinDuplicateWindow (default two minutes)
// and logs a warning if it is shorter, or fails with RefuseShortWindow.
// Give the stream a window longer than a failed batch can take to be run
// again (worker-loss detection, a driver restart, the time to resume from
// a checkpoint), e.g. `nats stream edit OUT --dupe-window 10m`; the cost
// is the server's memory for the ids.
//
// Write publishes asynchronously, with at most MaxInFlight (default 256)
// messages not yet acknowledged, and returns once the stream acknowledged
// every one (each within AckTimeout): a Write that returns nil was
// stored. Messages of two attempts racing may interleave, so the order of
// a partition's messages in the stream is its order only when one attempt
// writes it. Partitions, and batches whose partitions run at once, have
// no order among themselves; readers that need one can sort by the
// headers.
//
// Core publishes through core NATS instead (no acknowledgements: at most
// once per attempt, and each attempt publishes again), for subjects that
// only subscribers read; the ids still make a stream that captures the
// subject drop copies.
//
// Every worker builds the sink (the job's build function runs on each), so
// nothing connects until the first Write, which opens one connection per
// process, shared by its partitions; Close closes it. Connect passes
// options to nats.Connect (credentials, TLS).
//
// # Why github.com/nats-io/nats.go
//
// It is the NATS maintainers' own Go client (DESIGN.md section 9); its
// jetstream package gives asynchronous publishes with per-message
// acknowledgement futures and timeouts, message ids, and stream lookup by
// subject. The tests run against an embedded
// github.com/nats-io/nats-server/v2, the real server in-process.
package nats
