// Package lineage is the untyped core of Sluice's datasets: partitioned,
// immutable collections that know how to compute each partition from their
// parents (their lineage).
//
// The typed API (package dataset and the root package) wraps a *Dataset with
// a record type; this package sees partitions only as values of type any
// (always a []T of the dataset's record type) and describes them through the
// Type interface. Keeping the engine untyped means the scheduler, the block
// store and the shuffle never depend on user types.
//
// A Dataset has narrow dependencies (OneToOne, Range, Broadcast: a child
// partition reads known parent partitions in the same task) and shuffle
// dependencies (ShuffleDep: a child partition reads one bucket from every
// parent partition). The runtime splits the lineage graph into stages at
// shuffle dependencies and pipelines narrow ones.
//
// Identities are deterministic: a dataset's ID is (stream node, batch time,
// sequence within that scope), so a process that rebuilds the same stream
// graph derives the same IDs. A Scope hands them out.
//
//	reg := lineage.NewRegistry()
//	sc := reg.Scope(node, batchTime)
//	d := sc.New("map", typ, parent.NumParts, compute, lineage.OneToOne{P: parent})
package lineage
