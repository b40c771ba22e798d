// Package file is a replayable Sluice source of the files that appear in
// a directory, local or in an S3-compatible bucket: lines of text, JSON
// lines decoded into a type, or CSV records.
//
//	src := file.JSONLines[Event](file.Dir("/shared/in"), file.MaxFilesPerBatch(100))
//	events := sluice.FromSource(c, src, sluice.Named("events"), sluice.DeadLetter(bad))
//
// # Which files a batch reads
//
// Each batch's plan (Plan), made on the driver, lists the directory and
// takes the files that appeared since the previous batch, oldest first,
// at most MaxFilesPerBatch and MaxBytesPerBatch; tasks read what the plan
// names, one task per file (or per SplitSize bytes of a file of lines).
// The plan goes into the job's metadata checkpoint, so a restarted driver
// rereads a batch from the same files and plans the next one after it
// (see sluice.Checkpoint). As Spark's file stream source does with its
// log of files, a plan remembers the files read: those modified within
// Lookback (one hour by default) of the newest one, with their sizes,
// modification times and (S3) ETags, so a file rewritten under the same
// name is read again. Files modified earlier than that are ignored, which
// keeps the plan small; MaxSeen bounds it. SkipExisting makes a new job
// start with the files that appear after it starts.
//
// Writers must make files appear whole and leave them unchanged until
// they are read: write under a name that starts with '.' or '_' (both
// ignored, like subdirectories) and rename it in, or PUT the object. A
// file that vanished or changed between its plan and its read fails the
// task with ErrVanished.
//
// A file source does not know how many records a file holds without
// reading it, so it does not implement sluice.SourceCounter:
// backpressure and MaxRate cannot hold it back (PlanRequest.Limit is not
// followed); MaxFilesPerBatch and MaxBytesPerBatch bound a batch.
//
// # Bad records
//
// A line that is not valid UTF-8, is longer than MaxLineLength, or that
// its decoder refuses (JSON that does not fit the type, a CSV record with
// an unclosed quote or the wrong number of fields) becomes a
// sluice.BadRecord with its position, "path:line", and its bytes: the
// input's dead-letter sink receives it, or it fails the batch. Nothing is
// dropped silently. A CSV record whose unclosed quote runs past
// MaxLineLength plus 64 KiB fails the read instead (the parser cannot
// resume after it).
//
// # Dependencies
//
// encoding/json and encoding/csv decode (the standard library's are
// correct and well known; a faster JSON decoder can be plugged in with
// Lines). S3 goes through github.com/aws/aws-sdk-go-v2/service/s3, the
// official SDK, which the module already uses for checkpoints: listing
// with pagination, ranged and conditional (If-Match) reads, retries.
// The tests run an in-process S3 server, github.com/johannesboyne/gofakes3.
package file
