// Package kafka is an exactly-once Kafka sink for Sluice streams: every
// record becomes a record of a topic, written with sluice.WriteTo:
//
//	out := kafka.New(brokers, "counts", func(c Count) (key, value []byte, err error) {
//		v, err := json.Marshal(c)
//		return []byte(c.Word), v, err
//	})
//	defer out.Close()
//	sluice.WriteTo(counts, out, sluice.Named("counts"))
//
// Readers of the topic must read with read_committed (franz-go:
// kgo.FetchIsolationLevel(kgo.ReadCommitted()); the Java client:
// isolation.level=read_committed), as source/kafka does: a reader with the
// default read_uncommitted also sees the records of aborted attempts.
//
// # Exactly once
//
// The engine may write a partition of a batch more than once (a batch run
// again after a lost worker or a restarted driver, or two speculative
// attempts at once), always with the same records. Each write of output
// o's partition p uses a transactional producer whose transactional ID is
// "sluice/o/p" (TransactionalIDPrefix changes "sluice"): starting it
// fences every earlier producer of that ID — a zombie of a lost worker, a
// slower speculative copy — aborting its open transaction and refusing
// its commit, and waits until a transaction of it being committed is
// done. The write then looks for the key's marker, a record keyed
// "o/batch-ms/p" in the marker topic (sluice-markers, made with 8
// partitions if missing; the key's partition there is a hash of (o, p)),
// read with read_committed up to the last stable offset. If it is there,
// the key was committed and the write does nothing. Otherwise it writes the
// partition's records and the marker in one transaction and commits it.
// Of two attempts at one key, the one that started its producer last
// either finds the other's marker or fenced the other before it could
// commit, so one commit wins; a fenced attempt tries again (up to 8
// times), finds the marker and returns without error. An empty partition
// commits its marker alone.
//
// Every record carries headers naming the output (sluice-output), the
// batch in Unix milliseconds (sluice-batch) and the partition
// ("index/count", sluice-partition), so that readers can group a topic's
// records by batch (KeyOf, ReadCommitted).
//
// Each process keeps the markers it read, per marker partition, so that a
// write reads only the markers committed since its last one: about 100
// bytes per committed partition of a batch, for the life of the process.
// Retention on the marker topic must outlast any batch a job may run
// again (its incomplete batches at a restart): a day is plenty.
//
// # At least once
//
// AtLeastOnce writes with the idempotent producer alone, without
// transactions or markers: faster, and no record is lost, but a partition
// written again is written twice (duplicates carry the same headers).
//
// # Why franz-go
//
// The client is github.com/twmb/franz-go (DESIGN.md section 9): pure Go,
// maintained, with the whole transactional producer (producer ID
// initialisation that fences zombies, EndTransaction with the abort and
// retry rules of KIP-890) and the idempotent producer, and kadm for the
// admin requests (last stable offsets, topic creation). Its kfake package
// is an in-process Kafka cluster with transactions, which the tests run
// against.
package kafka
