package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// plusTotal makes a dataset with the partitions of other, each record
// plus the single record of total, which every partition reads through a
// Broadcast dependency.
func plusTotal(sc *lineage.Scope, other, total *lineage.Dataset) *lineage.Dataset {
	return sc.New("plusTotal", ints{}, other.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		in, err := tc.Partition(other, p)
		if err != nil {
			return nil, err
		}
		tot, err := tc.Partition(total, 0)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(asInts(in))
		for i := range out {
			out[i] += asInts(tot)[0]
		}
		return out, nil
	}, lineage.OneToOne{P: other}, lineage.Broadcast{P: total})
}

func TestBroadcastDependencyIsReadByEveryPartition(t *testing.T) {
	// The broadcast dataset is a one-partition shuffle of four partitions,
	// read by a dataset of three: the stage builder must walk the
	// Broadcast dependency to find the shuffle's map stage, or the tasks
	// have no locations to fetch from.
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persisted=%v", persist), func(t *testing.T) {
			l, reg := newLocal(t, 3)
			sc := reg.Scope(1, 1)
			var calls atomic.Int64
			total := modShuffle(sc, source(sc, 4, 5, &calls), 1)
			if persist {
				total.Persist()
			}
			other := source(sc, 3, 2, &calls)
			got, err := l.Driver.RunJob(context.Background(), plusTotal(sc, other, total), 1, collect)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for p := 0; p < 4; p++ {
				for i := 0; i < 5; i++ {
					sum += p*10 + i
				}
			}
			want := []int{sum, sum + 1, sum + 10, sum + 11, sum + 20, sum + 21}
			if fmt.Sprint(flatten(got)) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", flatten(got), want)
			}
		})
	}
}

func TestBroadcastGivesNoLocalityPreference(t *testing.T) {
	reg := lineage.NewRegistry()
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	small := source(sc, 1, 1, &calls).Persist()
	big := source(sc, 3, 1, &calls).Persist()
	d := &Driver{blocks: map[blockstore.ID][]string{{Dataset: small.ID, Part: 0}: {"w-small"}}}
	for p := 0; p < 3; p++ {
		d.blocks[blockstore.ID{Dataset: big.ID, Part: p}] = []string{fmt.Sprint("w-", p)}
	}
	only := sc.New("only", ints{}, 3, noCompute, lineage.Broadcast{P: small})
	both := sc.New("both", ints{}, 3, noCompute, lineage.Broadcast{P: small}, lineage.OneToOne{P: big})
	for p := 0; p < 3; p++ {
		// Partition 0 too: a OneToOne dependency would send it to w-small.
		if got := d.preferPart(only, p, 0); got != nil {
			t.Errorf("partition %d of a broadcast reader prefers %v, want nothing", p, got)
		}
		if got, want := d.preferPart(both, p, 0), []string{fmt.Sprint("w-", p)}; !slices.Equal(got, want) {
			t.Errorf("partition %d prefers %v, want %v (from its OneToOne parent)", p, got, want)
		}
	}
}

func noCompute(lineage.TaskContext, int) (any, error) { return []int(nil), nil }
