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
// The engine may write a partition more than once (a batch run again
// after a lost worker or a restarted driver, or two speculative attempts
// at once), always with the same records. Each part is written under a
// temporary name in its batch's directory, synced and renamed, so a
// repeated write replaces the file whole and readers never see a partial
// one; a crash leaves only a temporary file (a dot-file that readers
// ignore). Once every partition is written the driver checks that all
// the parts exist and writes _SUCCESS: a batch without it is not
// complete. ReadBatches reads the committed batches back, for tests and
// tools that compare two runs record by record.
//
// In a cluster the directory must be a file system that the workers (which
// write the parts) and the driver (which writes _SUCCESS) share; the
// workers of local-cluster[N] run on the driver's machine, so any local
// directory will do there.
//
// Only the standard library is used: encoding/json for the default line
// format (Format sets another), os for the files.
package file
