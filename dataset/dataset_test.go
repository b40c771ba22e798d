package dataset_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
)

func newCtx(t *testing.T, master string) *sluice.Context {
	t.Helper()
	c, err := sluice.NewContext(sluice.Master(master))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// firstByte places string keys by their first byte: a custom
// partitioner.
type firstByte struct{ n int }

func (p firstByte) Partitions() int        { return p.n }
func (p firstByte) Partition(k string) int { return int(k[0]) % p.n }
func (p firstByte) Name() string           { return "first-letter" }

// shuffles counts the shuffle dependencies in d's lineage.
func shuffles(d *lineage.Dataset) int {
	n := 0
	for _, dep := range d.Dependencies() {
		if _, ok := dep.(*lineage.ShuffleDep); ok {
			n++
		}
		n += shuffles(dep.Parent())
	}
	return n
}

func TestCustomPartitionerPlacesKeys(t *testing.T) {
	c := newCtx(t, "local[3]")
	recs := []sluice.KV[string, int]{{"apple", 1}, {"avocado", 2}, {"banana", 3}, {"cherry", 4}, {"blueberry", 5}}
	p := firstByte{3}
	placed := dataset.PartitionBy(sluice.Parallelize(c, recs, 2), p)
	var mu = make(chan struct{}, 1)
	got := map[int][]string{}
	err := placed.ForeachPartition(context.Background(), func(_ context.Context, part int, rs []sluice.KV[string, int]) error {
		mu <- struct{}{}
		defer func() { <-mu }()
		for _, r := range rs {
			got[part] = append(got[part], r.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for part, keys := range got {
		for _, k := range keys {
			if p.Partition(k) != part {
				t.Errorf("%s in partition %d, want %d", k, part, p.Partition(k))
			}
		}
	}
}

func TestCoPartitionedJoinDoesNotShuffleAgain(t *testing.T) {
	c := newCtx(t, "local[2]")
	p := dataset.HashPartitioner[string](4)
	a := dataset.PartitionBy(sluice.Parallelize(c, []sluice.KV[string, int]{{"x", 1}, {"y", 2}}, 2), p)
	b := dataset.PartitionBy(sluice.Parallelize(c, []sluice.KV[string, string]{{"x", "X"}, {"z", "Z"}}, 3), p)
	j := dataset.Join(a, b, dataset.WithPartitioner[string](p))
	if n := shuffles(j.Lineage()); n != 2 {
		t.Fatalf("join of co-partitioned inputs has %d shuffles in its lineage, want 2 (the two PartitionBy)", n)
	}
	got, err := j.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{x {1 X}}]" {
		t.Fatalf("join = %v", got)
	}
	// A reduce on data already placed by the same partitioner is narrow.
	r := dataset.ReduceByKey(a, func(x, y int) int { return x + y }, dataset.WithPartitioner[string](p))
	if n := shuffles(r.Lineage()); n != 1 {
		t.Fatalf("ReduceByKey of placed data has %d shuffles, want 1", n)
	}
}

func TestUnionKeepsPlacementWhenAligned(t *testing.T) {
	c := newCtx(t, "local[2]")
	p := dataset.HashPartitioner[string](3)
	a := dataset.PartitionBy(sluice.Parallelize(c, []sluice.KV[string, int]{{"x", 1}}, 1), p)
	b := dataset.PartitionBy(sluice.Parallelize(c, []sluice.KV[string, int]{{"x", 2}, {"y", 1}}, 1), p)
	u := dataset.Union(a, b)
	if u.Partitions() != 3 {
		t.Fatalf("aligned union has %d partitions, want 3", u.Partitions())
	}
	sum := dataset.ReduceByKey(u, func(x, y int) int { return x + y }, dataset.WithPartitioner[string](p))
	if n := shuffles(sum.Lineage()); n != 2 {
		t.Fatalf("reduce after an aligned union has %d shuffles, want 2", n)
	}
	got, err := sum.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
	if fmt.Sprint(got) != "[{x 3} {y 1}]" {
		t.Fatalf("got %v", got)
	}
	// Unaligned: partitions are listed one after the other.
	if n := dataset.Union(sluice.Parallelize(c, []int{1}, 2), sluice.Parallelize(c, []int{2}, 3)).Partitions(); n != 5 {
		t.Fatalf("unaligned union has %d partitions, want 5", n)
	}
}

func TestRepartitionIsEven(t *testing.T) {
	c := newCtx(t, "local[2]")
	var recs []int
	for i := 0; i < 1000; i++ {
		recs = append(recs, i)
	}
	d := sluice.Parallelize(c, recs, 7).Repartition(4)
	sizes := make([]int, 4)
	err := d.ForeachPartition(context.Background(), func(_ context.Context, p int, rs []int) error {
		sizes[p] = len(rs) // each partition is written by one task
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		if n < 245 || n > 255 {
			t.Fatalf("partition sizes %v, want about 250 each", sizes)
		}
	}
	all, err := d.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(all)
	if len(all) != 1000 || all[0] != 0 || all[999] != 999 {
		t.Fatalf("records lost or duplicated: %d records", len(all))
	}
}

func TestActions(t *testing.T) {
	c := newCtx(t, "local[2]")
	d := sluice.Parallelize(c, []string{"a", "b", "c", "d", "e"}, 3)
	if n, err := d.Count(context.Background()); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if got, err := d.Take(context.Background(), 2); err != nil || fmt.Sprint(got) != "[a b]" {
		t.Fatalf("Take = %v, %v", got, err)
	}
	if got, err := d.Take(context.Background(), 10); err != nil || len(got) != 5 {
		t.Fatalf("Take(10) = %v, %v", got, err)
	}
	empty := sluice.Parallelize(c, []string(nil), 2)
	if n, err := empty.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("Count of empty = %d, %v", n, err)
	}
}

func TestMisuseGivesClearPanics(t *testing.T) {
	c := newCtx(t, "local[1]")
	d := sluice.Parallelize(c, []int{1}, 1)
	for name, f := range map[string]func(){
		"nil map":         func() { dataset.Map[int, int](d, nil) },
		"zero dataset":    func() { var z dataset.Dataset[int]; z.Partitions() },
		"repartition 0":   func() { d.Repartition(0) },
		"bad partitioner": func() { dataset.HashPartitioner[string](0) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "dataset:") {
					t.Errorf("%s: recovered %v, want a dataset: panic", name, r)
				}
			}()
			f()
		}()
	}
}
