// Package dataset is Sluice's typed dataset API: immutable, partitioned
// collections with lineage, the batch counterpart of a stream (each batch
// of a sluice.Stream[T] is a Dataset[T]).
//
// Datasets are what a sluice.Transform function receives and returns, so
// that any per-batch computation can be written with the same operations
// as a batch job: join the batch with a static model, filter it by a
// threshold table, take the top k.
//
// Operations that change the record type are generic functions (Go
// methods cannot take type parameters): Map, FlatMap, MapPartitions,
// MapValues, FlatMapValues, ReduceByKey, CombineByKey, GroupByKey,
// CountByValue, CoGroup, Join and the outer joins. Those that keep it are
// methods: Filter, Union, Repartition, Persist; and the actions Collect,
// Count, Take and ForeachPartition, which run a job on the workers.
//
// Transformations are lazy and cheap: they record lineage; the engine runs
// tasks only for actions and output operations. Functions passed to them
// must be deterministic and free of side effects, because they run again
// on recovery and (on a cluster) in other processes.
package dataset
