// Package file is an exactly-once file sink for Sluice streams: every
// partition of every batch becomes one file of JSON lines,
//
//	DIR/<output>/<batch-ms>/part-00000.jsonl
//	DIR/<output>/<batch-ms>/part-00001.jsonl
//	DIR/<output>/<batch-ms>/_SUCCESS          (the number of partitions)
//
// written with sluice.WriteTo:
//
//	orders := file.New[Order]("/shared/out")
//	sluice.WriteTo(stream, orders, sluice.Named("orders"))
//
// # A batch appears whole
//
// The engine may write a partition more than once (a batch run again
// after a lost worker or a restarted driver, or two speculative attempts
// at once). The workers write each part under a temporary name in the
// batch's pending directory, DIR/<output>/_pending/<batch-ms>/, synced
// and renamed, so a repeated write replaces the file whole. Once every
// partition is written the driver (CommitBatch) checks that all the parts
// exist, writes _SUCCESS into the pending directory and renames the
// directory to <batch-ms>: one rename, so a reader that lists the output
// sees the whole batch or none of it, and the names starting with '_'
// are those that Spark, Hive and this module's file source skip.
//
// A batch run again after a driver restart may hold other records than
// the first time: the driver plans the batches after its last metadata
// checkpoint again, over what its inputs hold then. Its commit replaces
// the first one whole: its directory is named <batch-ms>.<n> (the next
// generation), readers take the highest generation, and the older ones
// are then removed.
//
// # Compaction
//
// With Compact(every), the driver groups the committed batches of each
// period (every hour with time.Hour) into one file once the period is
// over (CompactSettle after its end, in batch time):
//
//	DIR/<output>/compact-<period-start-ms>-<n>/data.jsonl      the batches' lines
//	DIR/<output>/compact-<period-start-ms>-<n>/_MANIFEST.json  which batches, how many lines each
//
// It writes both under _pending, renames the directory into place, and
// only then removes the batches' directories. Readers that follow the
// manifests (Scan, ReadBatches) skip the directories of the batches a
// manifest names, so whatever step a crash interrupts (the tests kill
// the process at every one), every batch is read exactly once; the next
// compaction finishes the interrupted one. Readers that do not follow
// manifests may read a batch twice until then. A late batch in a
// compacted period gets a compacted file of its own (n counts them). A
// compacted batch cannot be replaced: run again with the same records
// (the manifest holds their SHA-256) it is skipped, with others its
// commit fails; CompactSettle must exceed the batches a restart may run
// again.
//
// ReadBatches and Scan read the committed batches back, for tests and
// tools that compare two runs record by record.
//
// In a cluster the directory must be a file system that the workers (which
// write the parts) and the driver (which commits and compacts) share;
// the workers of local-cluster[N] run on the driver's machine, so any
// local directory will do there.
//
// Only the standard library is used: encoding/json for the default line
// format (Format sets another) and the manifests, crypto/sha256 for the
// digests, os for the files.
package file
