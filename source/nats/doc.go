// Package nats is a replayable Sluice input that reads a NATS JetStream
// stream, batch after batch, exactly once:
//
//	src := nats.New("nats://localhost:4222", "ORDERS", nats.JSON[Order],
//		nats.Filter("orders.>"), nats.CommitTo("sluice-orders"))
//	orders := sluice.FromSource(c, src, sluice.Named("orders"),
//		sluice.DeadLetter(badOrders)) // optional: else a bad message fails its batch
//
// # How a batch is read
//
// A stream numbers its messages with sequences. On the driver, Plan gives
// each batch the sequences [From, To) from where the previous batch ended
// (or, for a new job, the start position: StartFirst, the default,
// StartNew, StartSequence or StartTime) to the stream's last sequence, cut
// to the engine's limit (backpressure and sluice.MaxRate) and to
// MaxPerBatch. The engine records the plan in its metadata checkpoint.
// Parts splits the range evenly into partitions (by default one per 10,000
// sequences, at most 64; see PerPart and Partitions), and each task reads
// its sub-range through an ephemeral pull consumer (no acks, in memory)
// that starts at the sub-range's first sequence and is deleted when the
// task ends. A rerun of the task after a failure reads the same messages,
// so the input is exactly-once as long as the stream keeps them: a
// message removed (by DeleteMsg, a purge, or the stream's limits: max age,
// max messages, discard policy) before a batch is read or read again is a
// gap, not an error. Keep the stream's retention longer than the job may
// be down plus its checkpoint interval.
//
// decode turns each message (Msg: subject, sequence, stored time,
// headers, data) into a record; Text and JSON are ready-made ones. A
// message decode refuses becomes a sluice.BadRecord at "stream@sequence",
// holding the message's data.
//
// Count is the number of sequences in a plan, an upper bound of its
// messages: sequences deleted or of subjects the Filter leaves out count
// too. The engine's backpressure then errs on the safe side; a filter that
// selects a small share of a busy stream makes the limit (in sequences)
// much lower than it looks (give such subjects a stream of their own).
//
// # Planning by time
//
// With PlanByTime, batch t reads the messages stamped before t (by the
// time the server stored them, or by the time in a header), found by a
// binary search over the stream. If the stream is filled ahead of time,
// each batch's plan is then a pure function of the batch times, whatever
// fails: what a chaos test needs to compare a run full of failures with a
// failure-free one. Fill and Stamp fill such a stream:
//
//	msgs := make([]*natsgo.Msg, n)
//	for i := range msgs { // stamps must not decrease
//		msgs[i] = nats.Stamp("events.x", payload(i), start.Add(time.Duration(i)*time.Millisecond))
//	}
//	first, last, err := nats.Fill(ctx, js, msgs)
//	…
//	src := nats.New(url, "EVENTS", decode, nats.PlanByTime(nats.TimeHeader))
//	c, _ := sluice.NewContext(sluice.NoBackpressure(), …) // no limit may cut a batch
//
// With batch interval B, batch t reads the messages stamped in [t-B, t)
// (the first batch, everything stamped before it from the start
// position), so stamp the events meant for batch t in that interval: a
// chaos run and its failure-free reference then read the same messages in
// the same batches, as long as their clocks give the same batch times
// (a manual clock, or the same first batch time). A batch time past the
// last stamp plans an empty batch, so fill the stream beyond the last
// batch the run will have.
//
// # Progress for monitoring
//
// The job's position lives in the engine's metadata checkpoint, never in
// the server: exactly-once does not depend on anything committed to NATS.
// For people and dashboards, CommitTo keeps a durable consumer (which
// nothing consumes from) at the end of each completed batch, by resetting
// it to the batch's last sequence + 1 (needs nats-server 2.14 or later):
// its ack floor is the job's position and its pending count the job's lag,
// as `nats consumer info STREAM NAME` shows. Without CommitTo, Commit does
// nothing.
//
// # Connections
//
// Every worker builds the source (the job's build function runs on each):
// nothing connects until the first Plan or Read, which opens one
// connection per process, shared by its tasks. Connect passes options to
// nats.Connect (credentials, TLS). The engine closes the source when the
// job stops.
//
// # Why github.com/nats-io/nats.go
//
// It is the NATS maintainers' own Go client (DESIGN.md section 9), and its
// jetstream package is the current JetStream API: stream info, consumers
// by start sequence, pull requests that return only what is stored
// (FetchNoWait), message gets by sequence for the time search, and
// consumer resets for CommitTo. The tests run against an embedded
// github.com/nats-io/nats-server/v2, the real server in-process.
package nats
