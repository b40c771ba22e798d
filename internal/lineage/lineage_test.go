package lineage

import (
	"sync"
	"testing"
)

type strs struct{}

func (strs) Name() string          { return "string" }
func (strs) Len(p any) int         { return len(p.([]string)) }
func (strs) Head(p any, n int) any { s := p.([]string); return s[:min(n, len(s))] }
func (strs) Empty() any            { return []string(nil) }

func (strs) Encode(dst []byte, _ any) []byte { return dst }
func (strs) Decode([]byte) (any, error)      { return []string(nil), nil }

func noop(TaskContext, int) (any, error) { return []string(nil), nil }

func TestScopesGiveDeterministicIDs(t *testing.T) {
	// Two registries building the same datasets in a different order of
	// scopes derive the same IDs: IDs depend on (node, time, order within
	// the scope) only.
	a, b := NewRegistry(), NewRegistry()
	a1 := a.Scope(1, 100).New("x", strs{}, 1, noop)
	a2 := a.Scope(2, 100).New("y", strs{}, 1, noop)
	a3 := a.Scope(1, 100).New("z", strs{}, 1, noop)
	b2 := b.Scope(2, 100).New("y", strs{}, 1, noop)
	b1 := b.Scope(1, 100).New("x", strs{}, 1, noop)
	b3 := b.Scope(1, 100).New("z", strs{}, 1, noop)
	for _, pair := range [][2]*Dataset{{a1, b1}, {a2, b2}, {a3, b3}} {
		if pair[0].ID != pair[1].ID {
			t.Errorf("%v != %v", pair[0].ID, pair[1].ID)
		}
	}
	if a1.ID == a3.ID {
		t.Fatal("two datasets of one scope share an ID")
	}
}

func TestLookupAndForget(t *testing.T) {
	r := NewRegistry()
	static := r.Scope(0, 0).New("static", strs{}, 1, noop)
	old := r.Scope(3, 10).New("old", strs{}, 1, noop)
	recent := r.Scope(3, 20).New("recent", strs{}, 1, noop)
	other := r.Scope(4, 10).New("other", strs{}, 1, noop)
	if d, err := r.Lookup(old.ID); err != nil || d != old {
		t.Fatalf("Lookup = %v, %v", d, err)
	}
	ids := r.Forget(3, 15)
	if len(ids) != 1 || ids[0] != old.ID {
		t.Fatalf("Forget returned %v, want [%v]", ids, old.ID)
	}
	if _, err := r.Lookup(old.ID); err == nil {
		t.Fatal("forgotten dataset still found")
	}
	for _, d := range []*Dataset{static, recent, other} {
		if _, err := r.Lookup(d.ID); err != nil {
			t.Errorf("%v forgotten: %v", d, err)
		}
	}
	if r.Len() != 3 {
		t.Fatalf("Len = %d, want 3", r.Len())
	}
}

func TestConcurrentScopes(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := r.Scope(1, 5)
			for i := 0; i < 100; i++ {
				sc.New("x", strs{}, 1, noop)
			}
		}()
	}
	wg.Wait()
	if r.Len() != 800 {
		t.Fatalf("%d datasets registered, want 800 distinct IDs", r.Len())
	}
}

func TestTruncateDropsParents(t *testing.T) {
	r := NewRegistry()
	sc := r.Scope(1, 1)
	parent := sc.New("p", strs{}, 1, noop)
	child := sc.New("c", strs{}, 1, noop, OneToOne{P: parent}).Persist()
	child.Truncate(func(TaskContext, int) (any, error) { return []string{"cached"}, nil })
	if len(child.Dependencies()) != 0 || !child.Truncated() {
		t.Fatal("truncated dataset kept its dependencies")
	}
	v, err := child.Compute(nil, 0)
	if err != nil || v.([]string)[0] != "cached" {
		t.Fatalf("Compute after Truncate = %v, %v", v, err)
	}
}
