package blockstore

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/lineage"
)

func TestPutGetRemoveStats(t *testing.T) {
	s := New()
	a, b := lineage.ID{Node: 1, Time: 5}, lineage.ID{Node: 2, Time: 5}
	s.Put(ID{a, 0}, []int{1, 2}, 2)
	s.Put(ID{a, 1}, []int{3}, 1)
	s.Put(ID{b, 0}, []int{4, 5, 6}, 3)
	s.Put(ID{a, 1}, []int{7, 8}, 2) // replaces
	if n, recs := s.Stats(); n != 3 || recs != 7 {
		t.Fatalf("Stats = %d blocks, %d records; want 3, 7", n, recs)
	}
	if v, ok := s.Get(ID{a, 1}); !ok || fmt.Sprint(v) != "[7 8]" {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	if got := fmt.Sprint(s.IDs()); got != fmt.Sprint([]ID{{a, 0}, {a, 1}, {b, 0}}) {
		t.Fatalf("IDs = %s", got)
	}
	s.Remove(map[lineage.ID]bool{a: true})
	if _, ok := s.Get(ID{a, 0}); ok {
		t.Fatal("removed block still there")
	}
	if n, recs := s.Stats(); n != 1 || recs != 3 {
		t.Fatalf("after Remove: %d blocks, %d records; want 1, 3", n, recs)
	}
}
