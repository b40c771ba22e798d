// Package kafka reads Kafka topics as a replayable Sluice input (DESIGN.md
// section 4), in the "direct" way of Spark's DirectKafkaInputDStream:
//
//	src := kafka.New[string](brokers, []string{"clicks"}, nil, kafka.Group("click-stats"))
//	clicks := sluice.FromSource(sc, src, sluice.Named("clicks"))
//
// or with a decoder of its own, whose errors become dead letters:
//
//	src := kafka.New(brokers, []string{"orders"}, func(r *kgo.Record) (Order, error) {
//		var o Order
//		return o, json.Unmarshal(r.Value, &o)
//	})
//	orders := sluice.FromSource(sc, src, sluice.Named("orders"), sluice.DeadLetter(dead))
//
// No consumer group decides what a batch reads. On the driver, Plan lists
// every partition's offsets and gives the batch a range [From, To) per
// partition that goes on from the batch before; the engine records the
// plan in the metadata checkpoint. Tasks (one per non-empty range, or
// more with SplitAbove) each read one range with a client of their own
// assigned to that partition at From, and stop at To. A batch run again —
// a lost worker's partitions, a speculative copy, a restarted driver's
// incomplete batches — reads the same records, so the job is
// exactly-once from input to output.
//
// # What a range holds
//
// Ranges end at the partition's last stable offset and are read with
// read_committed: records of aborted transactions never appear, and every
// offset in a range is decided when the batch is planned, so a read never
// waits for an open transaction. A range of n offsets holds at most n
// records: transaction markers, aborted records and the offsets a
// compacted topic removed take offsets and read as nothing. A read stops
// at the first record (or marker) at or past To. Count reports the
// offsets, an upper bound of the records.
//
// # Where a job starts, and new partitions
//
// A new job starts at each partition's first kept record (Earliest, the
// default) or at its end when the first batch is planned (StartAt(Latest)).
// Every plan lists the topics' partitions again: a partition added later
// (and, with Regex, a topic that matches later) is read from its start
// offset. A partition whose next offset retention already deleted fails
// the plan, naming it, unless AllowDataLoss.
//
// # Rate limits
//
// MaxRatePerPartition bounds each partition's range; the engine's limit
// (backpressure, sluice.MaxRate) bounds the batch, split across partitions
// in proportion to what each has to read (the largest remainders get the
// offsets left after rounding down). Records beyond wait for later
// batches.
//
// # Replay by time
//
// With ReplayByTime, batch t reads, per partition, the records whose
// timestamp is before t (as far as the last stable offset). When a topic is
// filled ahead of time with timestamps that grow along each partition,
// plans are a pure function of batch times: any run over the same batch
// times reads the same batches, which is what comparing two runs (`sluice
// chaos --source kafka`) and replaying a past interval need.
//
// # Commits and monitoring
//
// With Group, the source commits the group's offsets to the end of each
// batch once its outputs are committed (sluice.SourceCommitter), so that
// the usual lag monitoring sees the job. Nothing depends on them: a
// restarted job goes on from its metadata checkpoint. Close closes the
// driver's admin client.
//
// # Why franz-go
//
// The client is github.com/twmb/franz-go (DESIGN.md section 9): pure Go,
// maintained, complete (transactions and read_committed, the idempotent
// producer, direct partition assignment at an exact offset with kgo's
// ConsumePartitions, and the admin requests of its kadm package that
// planning needs: start, end, last stable and by-timestamp offsets, offset
// commits for an unjoined group). Its kfake package is an in-process Kafka
// cluster, which is what the tests run against, and the chaos test too.
package kafka
