package postgres

import "github.com/sluicehq/sluice"

// JoinTable joins, batch by batch, a keyed stream with a table's stream
// (sluice.FromSource of a Source): each (k, v) record meets every row r
// of the batch's snapshot with key(r) == k, and records without a row
// are dropped. It is sluice.Join with the rows keyed by key, so the
// snapshot is shuffled to the stream's partitions at every batch: meant
// for tables of up to some megabytes (see MaxBytes). Options are Join's
// (Partitions, WithPartitioner).
func JoinTable[K comparable, V, R any](stream *sluice.Stream[sluice.KV[K, V]], table *sluice.Stream[R], key func(R) K, o ...sluice.OpOption) *sluice.Stream[sluice.KV[K, sluice.Joined[V, R]]] {
	return sluice.Join(stream, keyed(table, key), o...)
}

// LeftJoinTable is JoinTable keeping the records without a row (with an
// invalid sluice.Optional).
func LeftJoinTable[K comparable, V, R any](stream *sluice.Stream[sluice.KV[K, V]], table *sluice.Stream[R], key func(R) K, o ...sluice.OpOption) *sluice.Stream[sluice.KV[K, sluice.Joined[V, sluice.Optional[R]]]] {
	return sluice.LeftOuterJoin(stream, keyed(table, key), o...)
}

func keyed[K comparable, R any](table *sluice.Stream[R], key func(R) K) *sluice.Stream[sluice.KV[K, R]] {
	if key == nil {
		panic("postgres: JoinTable: nil key function")
	}
	return sluice.Map(table, func(r R) sluice.KV[K, R] { return sluice.Pair(key(r), r) })
}
