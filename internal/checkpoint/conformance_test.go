package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// impl is a Store implementation under the conformance suite.
type impl struct {
	name string
	// open returns a new, empty store; the test's cleanup closes it.
	open func(t *testing.T) Store
	// nests says the store accepts a key that is a "directory" of another
	// (S3); the others refuse it with ErrConflict.
	nests bool
}

func impls() []impl {
	return []impl{
		{name: "Mem", open: func(t *testing.T) Store { return NewMem() }},
		{name: "Dir", open: func(t *testing.T) Store { return newTestDir(t) }},
		{name: "S3", open: func(t *testing.T) Store { return newTestS3(t, fakeS3Options{listPage: 3}) }, nests: true},
		{name: "Faulty", open: func(t *testing.T) Store { return NewFaulty(newTestDir(t)) }},
	}
}

func newTestDir(t *testing.T) *Dir {
	t.Helper()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestConformance runs every implementation through the same checks of the
// Store contract.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store, im impl)
	}{
		{"PutGet", testPutGet},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"ListPrefixes", testListPrefixes},
		{"ListRandom", testListRandom},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"LongestKey", testLongestKey},
		{"Conflicts", testConflicts},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Large", testLarge},
		{"TooLarge", testTooLarge},
		{"Canceled", testCanceled},
	}
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := im.open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tc.run(t, s, im)
				})
			}
		})
	}
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(testContext(t), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(testContext(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %.40q…; want %d bytes %.40q…", key, len(got), got, len(want), want)
	}
}

func mustList(t *testing.T, s Store, prefix string, want []string) {
	t.Helper()
	got, err := s.List(testContext(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if len(got) != 0 || len(want) != 0 {
		if !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q; want %q", prefix, got, want)
		}
	}
}

func mustNotFound(t *testing.T, s Store, key string) {
	t.Helper()
	data, err := s.Get(testContext(t), key)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %d bytes, %v; want ErrNotFound", key, len(data), err)
	}
}

func testPutGet(t *testing.T, s Store, _ impl) {
	ctx := testContext(t)
	data := []byte("state of partition 3")
	mustPut(t, s, "state/op/1000/part-00003", data)
	data[0] = 'X' // the store must not keep the caller's slice
	mustGet(t, s, "state/op/1000/part-00003", []byte("state of partition 3"))
	got, _ := s.Get(ctx, "state/op/1000/part-00003")
	got[0] = 'Y' // nor share the slice it returns
	mustGet(t, s, "state/op/1000/part-00003", []byte("state of partition 3"))

	mustPut(t, s, "empty", nil)
	mustGet(t, s, "empty", []byte{})
	mustPut(t, s, "a/..b/.c/d_e-F.9", []byte("odd but valid"))
	mustGet(t, s, "a/..b/.c/d_e-F.9", []byte("odd but valid"))
	if str := s.String(); str == "" {
		t.Error("String() is empty")
	}
}

func testReplace(t *testing.T, s Store, _ impl) {
	mustPut(t, s, "metadata/latest", bytes.Repeat([]byte("long old value "), 1000))
	mustPut(t, s, "metadata/latest", []byte("short"))
	mustGet(t, s, "metadata/latest", []byte("short"))
	mustPut(t, s, "metadata/latest", nil)
	mustGet(t, s, "metadata/latest", []byte{})
	mustList(t, s, "", []string{"metadata/latest"})
}

func testNotFound(t *testing.T, s Store, _ impl) {
	mustNotFound(t, s, "absent")
	mustPut(t, s, "a/b/c", []byte("x"))
	mustNotFound(t, s, "a/b")     // a "directory" is not an object
	mustNotFound(t, s, "a")       //
	mustNotFound(t, s, "a/b/c/d") // goes through an object
	mustNotFound(t, s, "a/b/cc")
	_, err := s.Get(testContext(t), "absent")
	// (A Faulty store passes the inner store's errors on.)
	if msg := err.Error(); !strings.Contains(msg, `"absent"`) || !strings.Contains(msg, strings.TrimPrefix(s.String(), "faulty ")) {
		t.Errorf("error %q does not name the key and the store %q", msg, s)
	}
}

// listKeys is a set of keys whose sort order differs from a walk's: '-'
// and '.' sort before '/'.
var listKeys = []string{
	"latest",
	"metadata/100",
	"metadata/20",
	"state.x",
	"state/op-x/1",
	"state/op/100/part-00000",
	"state/op/100/part-00001",
	"state/op/20/part-00000",
	"state/op2/100/part-00000",
	"state/opa",
}

func testListPrefixes(t *testing.T, s Store, _ impl) {
	mustList(t, s, "", nil)
	for _, k := range slices.Backward(listKeys) {
		mustPut(t, s, k, []byte(k))
	}
	for _, prefix := range []string{
		"", "s", "state", "state/", "state/op/", "state/op", "state/op/1", "state/op/100/",
		"state/op/100/part-0000", "state/op/100/part-00000", "state/op/100/part-00000/",
		"metadata/100", "metadata/", "nothing/", "nothing", "latest", "latest/", "state/op/.", "state/..",
	} {
		mustList(t, s, prefix, reference(listKeys, prefix))
	}
}

// reference is what List must return: the sorted keys with the prefix.
func reference(keys []string, prefix string) []string {
	var want []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	return want
}

// testListRandom compares List with the reference on random keys and
// prefixes (seeded; the seed is in the test's log).
func testListRandom(t *testing.T, s Store, _ impl) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	parts := []string{"a", "a-b", "a.b", "ab", "b", "a_", "A", "0"}
	var keys []string
	for range 40 {
		// Three parts each, so that no key is a directory of another.
		k := parts[r.IntN(len(parts))] + "/" + parts[r.IntN(len(parts))] + "/" + parts[r.IntN(len(parts))]
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
			mustPut(t, s, k, []byte(k))
		}
	}
	for range 30 {
		k := keys[r.IntN(len(keys))]
		prefix := k[:r.IntN(len(k)+1)]
		if validPrefix(prefix) != nil {
			continue
		}
		mustList(t, s, prefix, reference(keys, prefix))
	}
	gone := keys[:len(keys)/2]
	if err := s.Delete(testContext(t), gone...); err != nil {
		t.Fatal(err)
	}
	mustList(t, s, "", reference(keys[len(keys)/2:], ""))
}

func testDelete(t *testing.T, s Store, _ impl) {
	ctx := testContext(t)
	for _, k := range listKeys {
		mustPut(t, s, k, []byte(k))
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatalf("Delete(): %v", err)
	}
	if err := s.Delete(ctx, "state/op/100/part-00000", "absent", "state/op/100/part-00001", "state/opa", "state/opa"); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, s, "state/op/100/part-00000")
	// Deleting a "directory" deletes nothing.
	if err := s.Delete(ctx, "state/op", "state"); err != nil {
		t.Fatal(err)
	}
	left := []string{"latest", "metadata/100", "metadata/20", "state.x", "state/op-x/1", "state/op/20/part-00000", "state/op2/100/part-00000"}
	mustList(t, s, "", left)
	mustList(t, s, "state/op/", []string{"state/op/20/part-00000"})
	if err := s.Delete(ctx, left...); err != nil {
		t.Fatal(err)
	}
	mustList(t, s, "", nil)
	// Deleting empties the "directories": the key may be an object again.
	mustPut(t, s, "state", []byte("now an object"))
	mustGet(t, s, "state", []byte("now an object"))
}

var invalidKeys = []string{
	"", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", ".", "..", "a/..", "a/.", "a b", "a\x00b", "ü",
	"a\\b", "a:b", "a#b", "a~", "*", strings.Repeat("k", MaxSegmentLen+1),
	strings.Repeat(strings.Repeat("k", 100)+"/", 7) + strings.Repeat("k", 62), // MaxKeyLen+1 bytes
}

func testInvalidKeys(t *testing.T, s Store, _ impl) {
	ctx := testContext(t)
	for _, k := range invalidKeys {
		if err := s.Put(ctx, k, []byte("x")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v; want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q) = %v; want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, "fine", k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v; want ErrInvalidKey", k, err)
		}
	}
	for _, p := range []string{"/a", "a//", "../", "a/../", "./", "a b", "#", strings.Repeat("k", MaxKeyLen+1)} {
		if _, err := s.List(ctx, p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List(%q) = %v; want ErrInvalidKey", p, err)
		}
	}
	mustList(t, s, "", nil)
}

func testLongestKey(t *testing.T, s Store, _ impl) {
	// Parts of MaxSegmentLen and one to fill up to MaxKeyLen.
	key := strings.Repeat(strings.Repeat("k", MaxSegmentLen)+"/", MaxKeyLen/(MaxSegmentLen+1))
	key += strings.Repeat("z", MaxKeyLen-len(key))
	if len(key) != MaxKeyLen || ValidKey(key) != nil {
		t.Fatalf("bad test key: %d bytes, %v", len(key), ValidKey(key))
	}
	mustPut(t, s, key, []byte("long"))
	mustGet(t, s, key, []byte("long"))
	mustList(t, s, key[:MaxKeyLen-1], []string{key})
	if err := s.Delete(testContext(t), key); err != nil {
		t.Fatal(err)
	}
	mustList(t, s, "", nil)
}

func testConflicts(t *testing.T, s Store, im impl) {
	ctx := testContext(t)
	mustPut(t, s, "c/d", []byte("c/d"))
	mustPut(t, s, "e", []byte("e"))
	for _, k := range []string{"c", "e/f", "e/f/g"} {
		err := s.Put(ctx, k, []byte(k))
		if im.nests {
			if err != nil {
				t.Errorf("Put(%q) = %v; want it to succeed", k, err)
			}
		} else if !errors.Is(err, ErrConflict) {
			t.Errorf("Put(%q) = %v; want ErrConflict", k, err)
		}
	}
	mustGet(t, s, "c/d", []byte("c/d"))
	mustGet(t, s, "e", []byte("e"))
	if !im.nests {
		mustList(t, s, "", []string{"c/d", "e"})
	}
}

// testConcurrentPuts has goroutines replace one key with objects of their
// own, and checks that what is left is one of them, whole.
func testConcurrentPuts(t *testing.T, s Store, _ impl) {
	const writers, puts, size = 6, 4, 200 << 10
	objects := make([][]byte, writers)
	for w := range objects {
		objects[w] = bytes.Repeat([]byte{byte('a' + w)}, size+w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*puts*2)
	for w := range writers {
		wg.Go(func() {
			ctx := context.Background()
			for i := range puts {
				errs <- s.Put(ctx, "hot/key", objects[w])
				errs <- s.Put(ctx, fmt.Sprintf("cold/%d-%d", w, i), objects[w][:w])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(testContext(t), "hot/key")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(objects, func(o []byte) bool { return bytes.Equal(o, got) }) {
		t.Fatalf("Get = %d bytes starting %.20q: not one of the objects put", len(got), got)
	}
	keys, err := s.List(testContext(t), "cold/")
	if err != nil || len(keys) != writers*puts {
		t.Fatalf("List = %d keys, %v; want %d", len(keys), err, writers*puts)
	}
	mustList(t, s, "hot/", []string{"hot/key"})
}

// largeSize is the size of testLarge's object: 64 MiB, or 16 MiB with
// -short.
func largeSize() int {
	if testing.Short() {
		return 16 << 20
	}
	return 64 << 20
}

func testLarge(t *testing.T, s Store, _ impl) {
	data := make([]byte, largeSize())
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	mustPut(t, s, "state/big/part-00000", data)
	mustGet(t, s, "state/big/part-00000", data)
}

// hugeObject is one byte over the limit. Nobody writes it, so it costs
// address space rather than memory (the pages stay unmapped), once.
var hugeObject = sync.OnceValue(func() []byte { return make([]byte, MaxObjectSize+1) })

func testTooLarge(t *testing.T, s Store, _ impl) {
	huge := hugeObject()
	err := s.Put(testContext(t), "huge", huge)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of %d bytes = %v; want ErrTooLarge", len(huge), err)
	}
	t.Log(err)
	mustNotFound(t, s, "huge")
}

func testCanceled(t *testing.T, s Store, _ impl) {
	mustPut(t, s, "kept", []byte("kept"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "new", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v; want context.Canceled", err)
	}
	if _, err := s.Get(ctx, "kept"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v; want context.Canceled", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v; want context.Canceled", err)
	}
	if err := s.Delete(ctx, "kept"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v; want context.Canceled", err)
	}
	mustNotFound(t, s, "new")
	mustGet(t, s, "kept", []byte("kept"))
}
