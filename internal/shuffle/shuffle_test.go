package shuffle

import (
	"errors"
	"fmt"
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

// ints is a bucket type of []int with a simple codec.
type ints struct{ panics bool }

func (ints) Name() string          { return "ints" }
func (ints) Len(p any) int         { return len(p.([]int)) }
func (ints) Head(p any, n int) any { return p.([]int)[:n] }
func (ints) Empty() any            { return []int(nil) }
func (t ints) Encode(dst []byte, p any) []byte {
	if t.panics {
		panic("ints: cannot encode")
	}
	for _, x := range p.([]int) {
		dst = append(dst, byte(x))
	}
	return dst
}
func (ints) Decode(b []byte) (any, error) {
	out := []int{}
	for _, x := range b {
		out = append(out, int(x))
	}
	return out, nil
}

// With compaction, a batch's outputs are encoded once a newer batch's
// arrive, and read back the same; static outputs and those the codec
// refuses stay as they are.
func TestCompactOlderBatches(t *testing.T) {
	s := New()
	s.SetCompact(true)
	old := lineage.ShuffleID{Child: lineage.ID{Node: 3, Time: 7}}
	static := lineage.ShuffleID{Child: lineage.ID{Node: 2}}
	refused := lineage.ShuffleID{Child: lineage.ID{Node: 5, Time: 7}}
	s.Put(old, 0, []any{[]int{1}, []int{2, 3}}, ints{})
	s.Put(static, 0, []any{[]int{4}}, ints{})
	s.Put(refused, 0, []any{[]int{5}}, ints{panics: true})
	if s.outputs[key{old, 0}].enc != nil {
		t.Fatal("the newest batch's output was compacted")
	}
	s.Put(lineage.ShuffleID{Child: lineage.ID{Node: 3, Time: 8}}, 0, []any{[]int{6}}, ints{})
	if o := s.outputs[key{old, 0}]; o.enc == nil || o.buckets != nil {
		t.Fatalf("the older batch's output was not compacted: %+v", o)
	}
	if o := s.outputs[key{static, 0}]; o.enc != nil || o.buckets == nil {
		t.Error("a static dataset's output was compacted")
	}
	if o := s.outputs[key{refused, 0}]; o.enc != nil || o.buckets == nil {
		t.Error("an output whose codec panics was compacted")
	}
	if b, err := s.Get(old, 0, 1); err != nil || fmt.Sprint(b) != "[2 3]" {
		t.Fatalf("Get of a compacted output = %v, %v", b, err)
	}
	if b, err := s.Encoded([]byte{9}, old, 0, 1); err != nil || fmt.Sprint(b) != "[9 2 3]" {
		t.Fatalf("Encoded of a compacted output = %v, %v", b, err)
	}
	if _, err := s.Get(old, 0, 2); err == nil || !strings.Contains(err.Error(), "has 2 buckets") {
		t.Fatalf("bad reduce partition of a compacted output: err = %v", err)
	}
	s.Remove(map[lineage.ID]bool{old.Child: true})
	if _, err := s.Get(old, 0, 0); !errors.Is(err, ErrNoOutput) {
		t.Fatalf("Get after Remove: %v", err)
	}
}
