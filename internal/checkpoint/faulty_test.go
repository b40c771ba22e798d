package checkpoint

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
)

func TestFaultyNthPut(t *testing.T) {
	f := NewFaulty(NewMem())
	f.Add(Fault{Op: OpPut, After: 2, Times: 1})
	for i := range 5 {
		key := fmt.Sprint("k", i)
		err := f.Put(testContext(t), key, []byte(key))
		if (i == 2) != errors.Is(err, ErrInjected) {
			t.Fatalf("Put #%d = %v", i+1, err)
		}
		if i == 2 {
			mustNotFound(t, f, key)
		} else {
			mustGet(t, f, key, []byte(key))
		}
	}
	if n := f.Injected(); n != 1 {
		t.Errorf("Injected() = %d; want 1", n)
	}
}

func TestFaultyPrefix(t *testing.T) {
	ctx := testContext(t)
	f := NewFaulty(NewMem())
	f.Add(Fault{Op: OpPut | OpDelete, Prefix: "state/", Err: syscall.ENOSPC})
	mustPut(t, f, "metadata/1", []byte("m"))
	err := f.Put(ctx, "state/op/1/part-00000", []byte("s"))
	if !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put = %v; want ErrInjected and ENOSPC", err)
	}
	t.Log(err)
	if err := f.Delete(ctx, "metadata/1", "state/x"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Delete = %v; want ErrInjected", err)
	}
	mustGet(t, f, "metadata/1", []byte("m")) // failed before running
	if err := f.Delete(ctx, "metadata/1"); err != nil {
		t.Fatal(err)
	}
	mustList(t, f, "", nil)
	f.Reset()
	mustPut(t, f, "state/op/1/part-00000", []byte("s"))
}

func TestFaultyFailAfter(t *testing.T) {
	ctx := testContext(t)
	f := NewFaulty(NewMem())
	f.Add(Fault{Mode: FailAfter})
	if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrInjected) {
		t.Fatalf("Put = %v", err)
	}
	if _, err := f.Get(ctx, "k"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Get = %v", err)
	}
	if _, err := f.List(ctx, ""); !errors.Is(err, ErrInjected) {
		t.Fatalf("List = %v", err)
	}
	f.Reset()
	mustGet(t, f, "k", []byte("v")) // the Put took place
	f.Add(Fault{Op: OpDelete, Mode: FailAfter})
	if err := f.Delete(ctx, "k"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Delete = %v", err)
	}
	mustNotFound(t, f, "k") // so did the Delete
	if n := f.Injected(); n != 4 {
		t.Errorf("Injected() = %d; want 4", n)
	}
}

// TestFaultyCrash checks that a crashed Put leaves a torn temporary file in
// a Dir, invisible, and the previous object intact.
func TestFaultyCrash(t *testing.T) {
	d := newTestDir(t)
	f := NewFaulty(d)
	mustPut(t, f, "state/k", []byte("old"))
	f.Add(Fault{Op: OpPut, Mode: Crash, Times: 1})
	if err := f.Put(testContext(t), "state/k", []byte("new object")); !errors.Is(err, ErrInjected) {
		t.Fatalf("Put = %v", err)
	}
	mustGet(t, f, "state/k", []byte("old"))
	mustList(t, f, "", []string{"state/k"})
	if temps := tempFiles(t, d.Path()); len(temps) != 1 {
		t.Fatalf("temporary files %q; want the crashed Put's", temps)
	}
	if n, err := d.Clean(testContext(t), 0); n != 1 || err != nil {
		t.Fatalf("Clean = %d, %v", n, err)
	}
	mustPut(t, f, "state/k", []byte("new object")) // Times: 1
	mustGet(t, f, "state/k", []byte("new object"))

	// Over a store that cannot tear, a crash is a failure before.
	m := NewFaulty(NewMem())
	m.Add(Fault{Mode: Crash})
	if err := m.Put(testContext(t), "k", []byte("x")); !errors.Is(err, ErrInjected) {
		t.Fatalf("Put = %v", err)
	}
	m.Reset()
	mustList(t, m, "", nil)
}

// TestFaultyConcurrent checks the counts of a fault under concurrent calls:
// exactly Times calls fail.
func TestFaultyConcurrent(t *testing.T) {
	f := NewFaulty(NewMem())
	f.Add(Fault{Op: OpPut, After: 5, Times: 7})
	f.Add(Fault{Op: OpGet, Prefix: "never"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				err := f.Put(t.Context(), fmt.Sprintf("w%d/%d", w, i), nil)
				if errors.Is(err, ErrInjected) {
					mu.Lock()
					failed++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if failed != 7 || f.Injected() != 7 {
		t.Fatalf("%d Puts failed, Injected() = %d; want 7", failed, f.Injected())
	}
	keys, err := f.List(testContext(t), "")
	if err != nil || len(keys) != 80-7 {
		t.Fatalf("List = %d keys, %v; want %d", len(keys), err, 80-7)
	}
}
