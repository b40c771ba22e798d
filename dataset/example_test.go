package dataset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
)

// Datasets run on a Sluice context: the examples make one on local[2]
// and make their datasets with sluice.Parallelize. In a stream job,
// datasets are the batches that sluice.Transform and sluice.ForeachBatch
// receive.

// newContext makes a context for the examples; stop it when done.
func newContext() *sluice.Context {
	sc, err := sluice.NewContext(sluice.Master("local[2]"))
	if err != nil {
		panic(err)
	}
	return sc
}

// show collects d and prints its records sorted: the order of records is
// not defined after a shuffle.
func show[T any](d dataset.Dataset[T]) {
	recs, err := d.Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprint(r)
	}
	slices.Sort(out)
	fmt.Println("[" + strings.Join(out, " ") + "]")
}

// The top three words of a text: the same operations serve a batch job
// and each batch of a stream.
func Example() {
	sc := newContext()
	defer sc.Stop()
	text := sluice.Parallelize(sc, []string{"the cat and the hat", "the cat sat", "a hat"}, 0)
	words := dataset.FlatMap(text, strings.Fields)
	counts := dataset.CountByValue(words)
	all, err := counts.Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	slices.SortFunc(all, func(a, b dataset.KV[string, int64]) int {
		if a.Value != b.Value {
			return int(b.Value - a.Value)
		}
		return strings.Compare(a.Key, b.Key)
	})
	fmt.Println(all[:3])
	// Output: [{the 3} {cat 2} {hat 2}]
}

func ExampleDataset() {
	sc := newContext()
	defer sc.Stop()
	prices := sluice.Parallelize(sc, []float64{9.99, 120, 35.5, 250}, 2)
	expensive := prices.Filter(func(p float64) bool { return p > 100 })
	recs, err := expensive.Collect(context.Background())
	fmt.Println(recs, expensive.Partitions(), err)
	// Output: [120 250] 2 <nil>
}

// Collect brings every record to the caller, partition by partition.
func ExampleDataset_Collect() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []string{"a", "b", "c"}, 2)
	recs, err := d.Collect(context.Background())
	fmt.Println(recs, err)
	// Output: [a b c] <nil>
}

// Count counts on the workers: only the numbers come back.
func ExampleDataset_Count() {
	sc := newContext()
	defer sc.Stop()
	logs := sluice.Parallelize(sc, []string{"INFO a", "ERROR b", "ERROR c"}, 2)
	n, err := logs.Filter(func(l string) bool { return strings.HasPrefix(l, "ERROR") }).Count(context.Background())
	fmt.Println(n, err)
	// Output: 2 <nil>
}

// Take returns the first records, in partition order.
func ExampleDataset_Take() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{10, 20, 30, 40, 50}, 2)
	first, err := d.Take(context.Background(), 3)
	fmt.Println(first, err)
	// Output: [10 20 30] <nil>
}

// ForeachPartition runs on the workers; the partition number names each
// partition's output, so that a task run again writes the same place.
func ExampleDataset_ForeachPartition() {
	sc := newContext()
	defer sc.Stop()
	var mu sync.Mutex
	files := map[int][]string{}
	d := sluice.Parallelize(sc, []string{"a", "b", "c"}, 2)
	err := d.ForeachPartition(context.Background(), func(_ context.Context, part int, recs []string) error {
		mu.Lock()
		defer mu.Unlock()
		files[part] = recs
		return nil
	})
	fmt.Println(files, err)
	// Output: map[0:[a] 1:[b c]] <nil>
}

func ExampleDataset_Filter() {
	sc := newContext()
	defer sc.Stop()
	temps := sluice.Parallelize(sc, []int{18, 31, 22, 35}, 2)
	show(temps.Filter(func(c int) bool { return c >= 30 }))
	// Output: [31 35]
}

// The function form of Filter, for symmetry with Map.
func ExampleFilter() {
	sc := newContext()
	defer sc.Stop()
	words := sluice.Parallelize(sc, []string{"go", "", "sluice", ""}, 2)
	show(dataset.Filter(words, func(w string) bool { return w != "" }))
	// Output: [go sluice]
}

func ExampleDataset_Union() {
	sc := newContext()
	defer sc.Stop()
	eu := sluice.Parallelize(sc, []string{"paris", "rome"}, 1)
	us := sluice.Parallelize(sc, []string{"boston"}, 1)
	all := eu.Union(us)
	show(all)
	fmt.Println(all.Partitions())
	// Output:
	// [boston paris rome]
	// 2
}

// Datasets placed by the same partitioner keep their placement in a
// union: partition p of the union is the partitions p of the inputs.
func ExampleUnion() {
	sc := newContext()
	defer sc.Stop()
	p := dataset.HashPartitioner[string](3)
	monday := dataset.PartitionBy(sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "ana", Value: 1}}, 0), p)
	tuesday := dataset.PartitionBy(sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "ana", Value: 2}, {Key: "bob", Value: 5}}, 0), p)
	week := dataset.Union(monday, tuesday)
	fmt.Println(week.Partitions())
	show(dataset.ReduceByKey(week, func(a, b int) int { return a + b })) // no shuffle: already placed
	// Output:
	// 3
	// [{ana 3} {bob 5}]
}

// Repartition spreads a batch that arrived in one partition over three,
// so that three tasks share the work that follows.
func ExampleDataset_Repartition() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1)
	spread := d.Repartition(3)
	sizes, err := dataset.MapPartitions(spread, func(in []int) []int { return []int{len(in)} }).Collect(context.Background())
	fmt.Println(sizes, err)
	show(spread)
	// Output:
	// [3 3 3] <nil>
	// [1 2 3 4 5 6 7 8 9]
}

// The function form of the Repartition method: each input partition
// deals its records round robin over the new partitions.
func ExampleRepartition() {
	sc := newContext()
	defer sc.Stop()
	skewed := dataset.Union(sluice.Parallelize(sc, []int{1, 2, 3, 4, 5, 6}, 1), sluice.Parallelize(sc, []int{7, 8}, 1))
	even := dataset.Repartition(skewed, 2)
	sizes, err := dataset.MapPartitions(even, func(in []int) []int { return []int{len(in)} }).Collect(context.Background())
	fmt.Println(sizes, err)
	// Output: [4 4] <nil>
}

// Persist keeps computed partitions on the workers: the second action
// reads them instead of running the (costly) function again.
func ExampleDataset_Persist() {
	sc := newContext()
	defer sc.Stop()
	var calls atomic.Int64
	scored := dataset.Map(sluice.Parallelize(sc, []string{"a", "bb", "ccc"}, 2), func(s string) int {
		calls.Add(1) // a side effect, only to count the calls
		return len(s)
	}).Persist()
	ctx := context.Background()
	n, _ := scored.Count(ctx)
	all, _ := scored.Collect(ctx)
	fmt.Println(n, all, calls.Load())
	// Output: 3 [1 2 3] 3
}

func ExampleDataset_Partitions() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{1, 2, 3}, 0) // 0: the context's parallelism
	fmt.Println(d.Partitions(), dataset.ReduceByKey(dataset.Map(d, func(x int) dataset.KV[int, int] { return dataset.Pair(x%2, x) }),
		func(a, b int) int { return a + b }, dataset.Partitions(4)).Partitions())
	// Output: 2 4
}

// String names the operation that made the dataset and its ID, for
// messages.
func ExampleDataset_String() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{1, 2}, 1)
	fmt.Println(dataset.Map(d, func(x int) int { return x * 2 }))
	fmt.Println(dataset.Dataset[int]{})
	// Output:
	// map[n0@0#1]
	// Dataset(zero)
}

func ExampleMap() {
	sc := newContext()
	defer sc.Stop()
	emails := sluice.Parallelize(sc, []string{"Ana@Example.com", "bob@example.COM"}, 2)
	show(dataset.Map(emails, strings.ToLower))
	// Output: [ana@example.com bob@example.com]
}

func ExampleFlatMap() {
	sc := newContext()
	defer sc.Stop()
	csv := sluice.Parallelize(sc, []string{"a,b", "c"}, 2)
	show(dataset.FlatMap(csv, func(line string) []string { return strings.Split(line, ",") }))
	// Output: [a b c]
}

// MapPartitions sees whole partitions: here it keeps each partition's
// largest order, a local top-1 before a global one.
func ExampleMapPartitions() {
	sc := newContext()
	defer sc.Stop()
	orders := sluice.Parallelize(sc, []int{30, 95, 12, 60, 41}, 2)
	tops := dataset.MapPartitions(orders, func(part []int) []int {
		if len(part) == 0 {
			return nil
		}
		return []int{slices.Max(part)}
	})
	recs, err := tops.Collect(context.Background())
	fmt.Println(recs, slices.Max(recs), err)
	// Output: [95 60] 95 <nil>
}

func ExampleMapValues() {
	sc := newContext()
	defer sc.Stop()
	cents := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "tea", Value: 350}, {Key: "cake", Value: 425}}, 1)
	show(dataset.MapValues(cents, func(c int) float64 { return float64(c) / 100 }))
	// Output: [{cake 4.25} {tea 3.5}]
}

func ExampleFlatMapValues() {
	sc := newContext()
	defer sc.Stop()
	recipes := sluice.Parallelize(sc, []dataset.KV[string, []string]{{Key: "pancakes", Value: []string{"flour", "eggs"}}}, 1)
	show(dataset.FlatMapValues(recipes, func(items []string) []string { return items }))
	// Output: [{pancakes eggs} {pancakes flour}]
}

func ExampleReduceByKey() {
	sc := newContext()
	defer sc.Stop()
	sales := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "paris", Value: 3}, {Key: "rome", Value: 1}, {Key: "paris", Value: 4}}, 2)
	show(dataset.ReduceByKey(sales, func(a, b int) int { return a + b }))
	// Output: [{paris 7} {rome 1}]
}

// minMax is a combiner: the range of a key's values. Its fields are
// exported so that it crosses the shuffle between processes.
type minMax struct{ Lo, Hi int }

// CombineByKey computes each sensor's range of readings; only one
// combiner per sensor and partition crosses the shuffle.
func ExampleCombineByKey() {
	sc := newContext()
	defer sc.Stop()
	readings := sluice.Parallelize(sc, []dataset.KV[string, int]{
		{Key: "s1", Value: 20}, {Key: "s2", Value: 7}, {Key: "s1", Value: 25}, {Key: "s1", Value: 18},
	}, 2)
	ranges := dataset.CombineByKey(readings,
		func(v int) minMax { return minMax{v, v} },
		func(m minMax, v int) minMax { return minMax{min(m.Lo, v), max(m.Hi, v)} },
		func(a, b minMax) minMax { return minMax{min(a.Lo, b.Lo), max(a.Hi, b.Hi)} })
	show(ranges)
	// Output: [{s1 {18 25}} {s2 {7 7}}]
}

func ExampleGroupByKey() {
	sc := newContext()
	defer sc.Stop()
	follows := sluice.Parallelize(sc, []dataset.KV[string, string]{{Key: "ana", Value: "bob"}, {Key: "cy", Value: "ana"}, {Key: "ana", Value: "cy"}}, 2)
	grouped, err := dataset.GroupByKey(follows).Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	slices.SortFunc(grouped, func(a, b dataset.KV[string, []string]) int { return strings.Compare(a.Key, b.Key) })
	for _, g := range grouped {
		slices.Sort(g.Value) // values come in no defined order
		fmt.Println(g.Key, "follows", g.Value)
	}
	// Output:
	// ana follows [bob cy]
	// cy follows [ana]
}

func ExampleCountByValue() {
	sc := newContext()
	defer sc.Stop()
	status := sluice.Parallelize(sc, []int{200, 200, 404, 200, 500}, 2)
	show(dataset.CountByValue(status))
	// Output: [{200 3} {404 1} {500 1}]
}

// CoGroup lists, for each key, its values on both sides.
func ExampleCoGroup() {
	sc := newContext()
	defer sc.Stop()
	views := sluice.Parallelize(sc, []dataset.KV[string, string]{{Key: "ad1", Value: "v1"}, {Key: "ad1", Value: "v2"}, {Key: "ad2", Value: "v3"}}, 2)
	clicks := sluice.Parallelize(sc, []dataset.KV[string, string]{{Key: "ad1", Value: "c1"}, {Key: "ad3", Value: "c2"}}, 1)
	show(dataset.MapValues(dataset.CoGroup(views, clicks), func(g dataset.Joined[[]string, []string]) string {
		return fmt.Sprintf("%d clicks / %d views", len(g.Right), len(g.Left))
	}))
	// Output: [{ad1 1 clicks / 2 views} {ad2 0 clicks / 1 views} {ad3 1 clicks / 0 views}]
}

// users and orders are the inputs of the join examples.
func usersAndOrders(sc *sluice.Context) (dataset.Dataset[dataset.KV[int, string]], dataset.Dataset[dataset.KV[int, float64]]) {
	users := sluice.Parallelize(sc, []dataset.KV[int, string]{{Key: 1, Value: "ana"}, {Key: 2, Value: "bob"}}, 2)
	orders := sluice.Parallelize(sc, []dataset.KV[int, float64]{{Key: 1, Value: 9.5}, {Key: 1, Value: 3}, {Key: 3, Value: 7}}, 2)
	return users, orders
}

func ExampleJoin() {
	sc := newContext()
	defer sc.Stop()
	users, orders := usersAndOrders(sc)
	show(dataset.Join(users, orders))
	// Output: [{1 {ana 3}} {1 {ana 9.5}}]
}

// LeftOuterJoin keeps the users without orders.
func ExampleLeftOuterJoin() {
	sc := newContext()
	defer sc.Stop()
	users, orders := usersAndOrders(sc)
	show(dataset.LeftOuterJoin(users, orders))
	// Output: [{1 {ana {3 true}}} {1 {ana {9.5 true}}} {2 {bob {0 false}}}]
}

// RightOuterJoin keeps the orders of unknown users.
func ExampleRightOuterJoin() {
	sc := newContext()
	defer sc.Stop()
	users, orders := usersAndOrders(sc)
	show(dataset.RightOuterJoin(users, orders))
	// Output: [{1 {{ana true} 3}} {1 {{ana true} 9.5}} {3 {{ false} 7}}]
}

func ExampleFullOuterJoin() {
	sc := newContext()
	defer sc.Stop()
	users, orders := usersAndOrders(sc)
	show(dataset.FullOuterJoin(users, orders))
	// Output: [{1 {{ana true} {3 true}}} {1 {{ana true} {9.5 true}}} {2 {{bob true} {0 false}}} {3 {{ false} {7 true}}}]
}

func ExampleKV() {
	kv := dataset.KV[string, int]{Key: "visits", Value: 42}
	fmt.Println(kv.Key, kv.Value, kv)
	// Output: visits 42 {visits 42}
}

func ExamplePair() {
	fmt.Println(dataset.Pair("ana", 3.5))
	// Output: {ana 3.5}
}

// SluiceCodec is how the record codec finds the fast encoding of pairs,
// used when records cross processes; users do not call it.
func ExampleKV_SluiceCodec() {
	var rec any = dataset.Pair("k", 1)
	_, ok := rec.(interface{ SluiceCodec() any })
	fmt.Println(ok)
	// Output: true
}

func ExampleJoined() {
	j := dataset.Joined[string, int]{Left: "ana", Right: 3}
	fmt.Printf("%s bought %d\n", j.Left, j.Right)
	// Output: ana bought 3
}

// Optional is an outer join's side that may be missing.
func ExampleOptional() {
	for _, o := range []dataset.Optional[int]{dataset.Some(5), {}} {
		if o.Valid {
			fmt.Println("value", o.Value)
		} else {
			fmt.Println("missing")
		}
	}
	// Output:
	// value 5
	// missing
}

func ExampleSome() {
	o := dataset.Some("x")
	fmt.Println(o.Value, o.Valid)
	// Output: x true
}

// byFirstLetter places words by their first letter: a-m and n-z.
type byFirstLetter struct{}

func (byFirstLetter) Partitions() int { return 2 }

func (byFirstLetter) Partition(w string) int {
	if w != "" && w[0] >= 'n' {
		return 1
	}
	return 0
}

func (byFirstLetter) Name() string { return "first-letter" }

// A Partitioner of one's own: a range partitioning, so that partition 0
// holds the words a-m and partition 1 the words n-z.
func ExamplePartitioner() {
	sc := newContext()
	defer sc.Stop()
	words := sluice.Parallelize(sc, []string{"zoo", "apple", "night", "moon", "apple"}, 2)
	counts := dataset.CountByValue(words, dataset.WithPartitioner[string](byFirstLetter{}))
	parts, err := dataset.MapPartitions(counts, func(in []dataset.KV[string, int64]) []string {
		var ks []string
		for _, kv := range in {
			ks = append(ks, kv.Key)
		}
		slices.Sort(ks)
		return []string{strings.Join(ks, ",")}
	}).Collect(context.Background())
	fmt.Println(parts, err)
	// Output: [apple,moon night,zoo] <nil>
}

// HashPartitioner places keys by a stable hash: the same key goes to the
// same partition in every process and run.
func ExampleHashPartitioner() {
	p := dataset.HashPartitioner[string](4)
	same := p.Partition("ana") == p.Partition("ana")
	inRange := p.Partition("bob") >= 0 && p.Partition("bob") < p.Partitions()
	fmt.Println(p.Name(), p.Partitions(), same, inRange)
	// Output: hash 4 true true
}

// PartitionBy places records by key ahead of time: later keyed operations
// with the same partitioner need no shuffle.
func ExamplePartitionBy() {
	sc := newContext()
	defer sc.Stop()
	p := dataset.HashPartitioner[int](2)
	users := dataset.PartitionBy(sluice.Parallelize(sc, []dataset.KV[int, string]{{Key: 1, Value: "ana"}, {Key: 2, Value: "bob"}}, 1), p).Persist()
	clicks := sluice.Parallelize(sc, []dataset.KV[int, string]{{Key: 2, Value: "/home"}}, 1)
	show(dataset.Join(users, clicks)) // only clicks is shuffled
	fmt.Println(users.Partitions())
	// Output:
	// [{2 {bob /home}}]
	// 2
}

// PartitionerFor tells which partitioner a keyed operation would use:
// the input's own placement when it has one, which avoids a shuffle.
func ExamplePartitionerFor() {
	sc := newContext()
	defer sc.Stop()
	raw := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "a", Value: 1}}, 1)
	placed := dataset.PartitionBy(raw, dataset.HashPartitioner[string](5))
	fmt.Println(dataset.PartitionerFor(raw).Partitions())    // the context's parallelism
	fmt.Println(dataset.PartitionerFor(placed).Partitions()) // its own placement
	fmt.Println(dataset.PartitionerFor(placed, dataset.Partitions(3)).Partitions())
	// Output:
	// 2
	// 5
	// 3
}

// Option configures a shuffle; the same options serve every keyed
// operation.
func ExampleOption() {
	sc := newContext()
	defer sc.Stop()
	opts := []dataset.Option{dataset.Partitions(3)}
	d := sluice.Parallelize(sc, []string{"a", "b", "a"}, 1)
	fmt.Println(dataset.CountByValue(d, opts...).Partitions())
	// Output: 3
}

// Options is what the Option functions fill in.
func ExampleOptions() {
	var o dataset.Options
	for _, opt := range []dataset.Option{dataset.Partitions(8), dataset.WithPartitioner(dataset.HashPartitioner[string](2))} {
		opt(&o)
	}
	fmt.Println(o.Parts, o.Partitioner.(dataset.Partitioner[string]).Partitions())
	// Output: 8 2
}

func ExamplePartitions() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "a", Value: 1}}, 1)
	fmt.Println(dataset.GroupByKey(d, dataset.Partitions(6)).Partitions())
	// Output: 6
}

// WithPartitioner makes two datasets placed alike, so that joining them
// needs no shuffle.
func ExampleWithPartitioner() {
	sc := newContext()
	defer sc.Stop()
	p := dataset.HashPartitioner[string](3)
	a := dataset.ReduceByKey(sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "x", Value: 1}, {Key: "x", Value: 2}}, 2),
		func(a, b int) int { return a + b }, dataset.WithPartitioner(p))
	b := dataset.GroupByKey(sluice.Parallelize(sc, []dataset.KV[string, string]{{Key: "x", Value: "tag"}}, 2), dataset.WithPartitioner(p))
	show(dataset.Join(a, b))
	// Output: [{x {3 [tag]}}]
}

// ZipPartitions combines partition p of two datasets of the same number
// of partitions, for every p: here, records with their scores computed
// alongside.
func ExampleZipPartitions() {
	sc := newContext()
	defer sc.Stop()
	names := sluice.Parallelize(sc, []string{"ana", "bob", "cy"}, 2)
	lengths := dataset.Map(names, func(s string) int { return len(s) })
	zipped := dataset.ZipPartitions(names, lengths, func(ns []string, ls []int) []string {
		out := make([]string, len(ns))
		for i := range ns {
			out[i] = fmt.Sprintf("%s:%d", ns[i], ls[i])
		}
		return out
	})
	recs, err := zipped.Collect(context.Background())
	fmt.Println(recs, err)
	// Output: [ana:3 bob:3 cy:2] <nil>
}

// MapKeyedPartitions changes values a partition at a time and keeps the
// placement by key: here a rank within each key's partition.
func ExampleMapKeyedPartitions() {
	sc := newContext()
	defer sc.Stop()
	totals := dataset.ReduceByKey(sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "a", Value: 5}, {Key: "b", Value: 1}, {Key: "a", Value: 2}}, 2),
		func(a, b int) int { return a + b })
	flagged := dataset.MapKeyedPartitions(totals, func(in []dataset.KV[string, int]) []dataset.KV[string, bool] {
		out := make([]dataset.KV[string, bool], 0, len(in))
		for _, kv := range in {
			out = append(out, dataset.Pair(kv.Key, kv.Value > 3))
		}
		return out
	})
	show(flagged)
	fmt.Println(dataset.PartitionerFor(flagged).Partitions() == totals.Partitions()) // still placed by key
	// Output:
	// [{a true} {b false}]
	// true
}

// Env is the engine a dataset runs on; only Sluice implements it.
func ExampleEnv() {
	sc := newContext()
	defer sc.Stop()
	var env dataset.Env = sluice.Parallelize(sc, []int{1}, 1).Env()
	fmt.Println(env.Parallelism())
	// Output: 2
}

// For the engine's use: the engine a dataset runs on, to make others on
// it.
func ExampleDataset_Env() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{1, 2, 3}, 0)
	fmt.Println(d.Env().Parallelism())
	// Output: 2
}

// For the engine's use: the engine dataset behind a typed one.
func ExampleDataset_Lineage() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []int{1, 2, 3}, 3)
	ld := d.Lineage()
	fmt.Println(ld.Op, ld.NumParts)
	// Output: parallelize 3
}

// For the engine's use: a typed view of an engine dataset.
func ExampleWrap() {
	sc := newContext()
	defer sc.Stop()
	d := sluice.Parallelize(sc, []string{"a", "b"}, 1)
	again := dataset.Wrap[string](d.Lineage(), d.Env())
	recs, err := again.Collect(context.Background())
	fmt.Println(recs, err)
	// Output: [a b] <nil>
}

// For the engine's use: a stream operator derives its datasets in its
// own scope, which names them.
func ExampleDataset_InScope() {
	sc := newContext()
	defer sc.Stop()
	a := sluice.Parallelize(sc, []int{1}, 1)
	b := sluice.Parallelize(sc, []int{2}, 1)
	derived := dataset.Map(a.InScope(b.Lineage().Scope), func(x int) int { return x })
	fmt.Println(derived.Lineage().Scope == b.Lineage().Scope)
	// Output: true
}

// For the engine's use; users call sluice.Parallelize.
func ExampleParallelize() {
	sc := newContext()
	defer sc.Stop()
	base := sluice.Parallelize(sc, []int{0}, 1)
	d := dataset.Parallelize(base.Env(), base.Lineage().Scope, []int{1, 2, 3, 4}, 0)
	recs, err := d.Collect(context.Background())
	fmt.Println(d.Partitions(), recs, err)
	// Output: 2 [1 2 3 4] <nil>
}

// For the engine's use: an input batch with no records.
func ExampleEmpty() {
	sc := newContext()
	defer sc.Stop()
	base := sluice.Parallelize(sc, []int{0}, 1)
	e := dataset.Empty[string](base.Env(), base.Lineage().Scope, 1)
	n, err := e.Count(context.Background())
	fmt.Println(e.Partitions(), n, err)
	// Output: 1 0 <nil>
}

// For the engine's use: the empty first state of a stateful operator,
// placed as the batches it is joined with.
func ExampleEmptyPlaced() {
	sc := newContext()
	defer sc.Stop()
	base := sluice.Parallelize(sc, []int{0}, 1)
	p := dataset.HashPartitioner[string](4)
	state := dataset.EmptyPlaced[string, int](base.Env(), base.Lineage().Scope, p)
	fmt.Println(state.Partitions(), dataset.PartitionerFor(state).Partitions())
	// Output: 4 4
}

// For the engine's windows: the values of each key in several datasets,
// one list per dataset.
func ExampleCoGroupN() {
	sc := newContext()
	defer sc.Stop()
	day1 := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "a", Value: 1}}, 1)
	day2 := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "a", Value: 2}, {Key: "b", Value: 3}}, 1)
	day3 := sluice.Parallelize(sc, []dataset.KV[string, int]{{Key: "b", Value: 4}}, 1)
	show(dataset.CoGroupN(dataset.HashPartitioner[string](2), "days", day1, day2, day3))
	// Output: [{a [[1] [2] []]} {b [[] [3] [4]]}]
}

// RecordType is how the engine sees a dataset's partitions without their
// Go type.
func ExampleRecordType() {
	typ := dataset.RecordType[string]()
	fmt.Println(typ.Name(), typ.Len([]string{"a", "b"}))
	// Output: string 2
}
