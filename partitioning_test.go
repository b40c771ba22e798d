package sluice_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sluicetest"
)

// kvs builds a batch of KV[string, int] from alternating keys and values.
func kvs(pairs ...any) []sluice.KV[string, int] {
	var out []sluice.KV[string, int]
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, sluice.Pair(pairs[i].(string), pairs[i+1].(int)))
	}
	return out
}

// varyingPartitions repartitions batch k into k partitions, so that the
// input's partitioning changes every batch.
func varyingPartitions(s *sluice.Stream[sluice.KV[string, int]]) *sluice.Stream[sluice.KV[string, int]] {
	return sluice.Transform(s, func(d sluice.Dataset[sluice.KV[string, int]], t time.Time) sluice.Dataset[sluice.KV[string, int]] {
		return dataset.ReduceByKey(d, add, dataset.Partitions(int(t.Unix())))
	})
}

func TestStateSurvivesInputPartitioningChanges(t *testing.T) {
	h := sluicetest.New(t, time.Second, sluice.Master("local[3]"))
	in := varyingPartitions(sluicetest.Input(h, 2, kvs("a", 1, "b", 1), kvs("a", 2, "c", 5), kvs("b", 3), kvs("a", 1)))
	total := func(_ string, vs []int, s int, _ bool) (int, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}
	state := sluicetest.Collect(sluice.UpdateStateByKey(in, total, sluice.Named("totals")))
	seen, _ := sluice.MapWithState(in, func(_ time.Time, k string, v sluice.Optional[int], st *sluice.State[int]) (sluice.KV[string, int], bool) {
		n, _ := st.Get()
		st.Update(n + v.Value)
		return sluice.Pair(k, n+v.Value), true
	}, sluice.Named("seen"))
	mapped := sluicetest.Collect(seen)
	windowed := sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, sub, 2*time.Second, time.Second, sluice.Named("w")))
	h.Run(4)
	assertSorted(t, state.Batches(), batches(
		kvs("a", 1, "b", 1), kvs("a", 3, "b", 1, "c", 5), kvs("a", 3, "b", 4, "c", 5), kvs("a", 4, "b", 4, "c", 5)))
	assertSorted(t, mapped.Batches(), batches(kvs("a", 1, "b", 1), kvs("a", 3, "c", 5), kvs("b", 4), kvs("a", 4)))
	assertSorted(t, windowed.Batches(), batches(
		kvs("a", 1, "b", 1), kvs("a", 3, "b", 1, "c", 5), kvs("a", 2, "b", 3, "c", 5), kvs("a", 1, "b", 3, "c", 0)))
}

func TestKeepKeysFiltersThePlainWindowToo(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, kvs("a", 1, "b", 5), kvs("a", 1))
	big := sluice.KeepKeys(func(kv sluice.KV[string, int]) bool { return kv.Value >= 2 })
	out := sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, nil, 2*time.Second, time.Second, big))
	h.Run(3)
	assertSorted(t, out.Batches(), batches(kvs("b", 5), kvs("a", 2, "b", 5), kvs()))
}

func TestPartitionerOfTheWrongKeyTypeIsAConstructionError(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, kvs("a", 1))
	sluice.ReduceByKey(in, add, sluice.WithPartitioner(dataset.HashPartitioner[int](2)))
	if err := h.Context.Err(); err == nil || !strings.Contains(err.Error(), "ReduceByKey") || !strings.Contains(err.Error(), "does not place keys of type string") {
		t.Fatalf("Err() = %v", err)
	}
}
