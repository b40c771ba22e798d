package shuffle

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/lineage"
)

func TestPutGetRemove(t *testing.T) {
	s := New()
	id := lineage.ShuffleID{Child: lineage.ID{Node: 3, Time: 7}}
	other := lineage.ShuffleID{Child: lineage.ID{Node: 4, Time: 7}}
	s.Put(id, 0, []any{[]int{1}, []int{2, 3}}, nil)
	s.Put(other, 0, []any{[]int{9}}, nil)
	if b, err := s.Get(id, 0, 1); err != nil || len(b.([]int)) != 2 {
		t.Fatalf("Get = %v, %v", b, err)
	}
	if _, err := s.Get(id, 1, 0); err == nil || !strings.Contains(err.Error(), "no output") {
		t.Fatalf("missing map output: err = %v", err)
	}
	if _, err := s.Get(id, 0, 5); err == nil || !strings.Contains(err.Error(), "has 2 buckets") {
		t.Fatalf("bad reduce partition: err = %v", err)
	}
	s.Remove(map[lineage.ID]bool{id.Child: true})
	if s.Len() != 1 {
		t.Fatalf("Len after Remove = %d, want 1", s.Len())
	}
}
