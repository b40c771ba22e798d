package blockstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
)

// strs is a lineage.Type for []string, encoded with the record codec.
type strsType struct{}

var (
	strs       lineage.Type = strsType{}
	stringsCdc              = codec.For[string]()
)

func (strsType) Name() string  { return "[]string" }
func (strsType) Len(p any) int { return len(p.([]string)) }
func (strsType) Empty() any    { return []string(nil) }
func (strsType) Head(p any, n int) any {
	s := p.([]string)
	return s[:min(n, len(s))]
}
func (strsType) Encode(dst []byte, p any) []byte { return stringsCdc.Append(dst, p.([]string)) }
func (strsType) Decode(b []byte) (any, error)    { return stringsCdc.Decode(b) }

// block returns the content of test block i: n records of equal width.
func block(i, n int) []string {
	b := make([]string, n)
	for j := range b {
		b[j] = fmt.Sprintf("b%04d-%04d", i, j)
	}
	return b
}

func bid(i int) ID { return ID{Dataset: lineage.ID{Node: 1, Time: 1000, Seq: int32(i)}} }

// blockSize is the estimated size of block(i, 10).
var blockSize = EstimateBytes(strs, block(0, 10))

func newStore(t testing.TB, budget int64) *Store {
	t.Helper()
	s := New(Config{MemoryBytes: budget, SpillDir: t.TempDir()})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func mustPut(t testing.TB, s *Store, i, n int) {
	t.Helper()
	if err := s.Put(bid(i), block(i, n), strs); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t testing.TB, s *Store, i, n int) {
	t.Helper()
	v, ok, err := s.Get(bid(i))
	if err != nil || !ok {
		t.Fatalf("Get(%v) = %v, %v", bid(i), ok, err)
	}
	if got := v.([]string); !slices.Equal(got, block(i, n)) {
		t.Fatalf("Get(%v) = %q, want %q", bid(i), got, block(i, n))
	}
}

// where reports the state of block i: "mem", "spilling", "disk" or "".
func where(s *Store, i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.blocks[bid(i)]
	if e == nil {
		return ""
	}
	return [...]string{"mem", "spilling", "disk"}[e.state]
}

// spillFiles lists the files in s's spill directory.
func spillFiles(t testing.TB, s *Store) []string {
	t.Helper()
	s.dirMu.Lock()
	dir := s.dir
	s.dirMu.Unlock()
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// checkInvariants recomputes the counters from the blocks and compares
// them with Stats and the spill directory. The store must be quiescent.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	var want Stats
	s.mu.Lock()
	inLRU := 0
	for id, e := range s.blocks {
		if e.id != id || e.dropped {
			t.Errorf("entry %v listed as %v, dropped %v", e.id, id, e.dropped)
		}
		want.Blocks++
		want.Records += int64(e.records)
		switch e.state {
		case inMemory:
			want.MemoryBytes += e.size
			inLRU++
		case onDisk:
			want.SpilledBlocks++
			want.SpilledBytes += e.disk
		default:
			t.Errorf("block %v still spilling", id)
		}
	}
	if s.lru.Len() != inLRU || s.pending != 0 {
		t.Errorf("lru holds %d, %d blocks in memory; pending %d", s.lru.Len(), inLRU, s.pending)
	}
	if s.budget >= 0 && s.memBytes > s.budget && s.spillErrors == 0 {
		t.Errorf("memory %d over budget %d", s.memBytes, s.budget)
	}
	s.mu.Unlock()
	got := s.Stats()
	want.Spills, want.SpillErrors = got.Spills, got.SpillErrors
	if got != want {
		t.Errorf("Stats = %+v, recomputed %+v", got, want)
	}
	if files := spillFiles(t, s); len(files) != want.SpilledBlocks {
		t.Errorf("%d spill files %q, %d spilled blocks", len(files), files, want.SpilledBlocks)
	}
}

func TestPutGetRemoveStats(t *testing.T) {
	s := newStore(t, -1)
	a, b := lineage.ID{Node: 1, Time: 5}, lineage.ID{Node: 2, Time: 5}
	put := func(id ID, v []string) {
		if err := s.Put(id, v, strs); err != nil {
			t.Fatal(err)
		}
	}
	put(ID{a, 0}, []string{"1", "2"})
	put(ID{a, 1}, []string{"3"})
	put(ID{b, 0}, []string{"4", "5", "6"})
	put(ID{a, 1}, []string{"7", "8"}) // replaces
	if st := s.Stats(); st.Blocks != 3 || st.Records != 7 || st.SpilledBlocks != 0 {
		t.Fatalf("Stats = %+v; want 3 blocks, 7 records", st)
	}
	if v, ok, err := s.Get(ID{a, 1}); err != nil || !ok || fmt.Sprint(v) != "[7 8]" {
		t.Fatalf("Get = %v, %v, %v", v, ok, err)
	}
	if got := fmt.Sprint(s.IDs()); got != fmt.Sprint([]ID{{a, 0}, {a, 1}, {b, 0}}) {
		t.Fatalf("IDs = %s", got)
	}
	if !s.Has(ID{a, 0}) || s.Has(ID{a, 2}) {
		t.Fatal("Has is wrong")
	}
	s.Remove(map[lineage.ID]bool{a: true})
	if _, ok, _ := s.Get(ID{a, 0}); ok || s.Has(ID{a, 0}) {
		t.Fatal("removed block still there")
	}
	if st := s.Stats(); st.Blocks != 1 || st.Records != 3 {
		t.Fatalf("after Remove: %+v; want 1 block, 3 records", st)
	}
	checkInvariants(t, s)
}

func TestIDString(t *testing.T) {
	id := ID{Dataset: lineage.ID{Node: 3, Time: 1000, Seq: 2}, Part: 1}
	if got := id.String(); got != "n3@1000#2/1" {
		t.Fatalf("String = %q", got)
	}
	if got := fileName(ID{Dataset: lineage.ID{Node: -3, Time: 1000, Seq: 2}, Part: 1}, 7); got != "n-3_t1000_s2_p1_7.blk" {
		t.Fatalf("fileName = %q", got)
	}
}

func TestEstimateBytes(t *testing.T) {
	if got := EstimateBytes(strs, []string(nil)); got != blockOverhead {
		t.Fatalf("empty: %d, want %d", got, blockOverhead)
	}
	small := block(0, 10)
	if got, enc := EstimateBytes(strs, small), len(strs.Encode(nil, small)); got != int64(blockOverhead+enc) {
		t.Fatalf("10 records: %d, want overhead + %d", got, enc)
	}
	// Beyond the sample, the estimate extrapolates the first 32 records.
	big := block(0, 3200)
	enc := int64(len(strs.Encode(nil, big)))
	got := EstimateBytes(strs, big)
	if d := got - blockOverhead - enc; d < -enc/100 || d > enc/100 {
		t.Fatalf("3200 records: %d, want about overhead + %d", got, enc)
	}
	if EstimateBytes(strs, big) != got {
		t.Fatal("estimate is not deterministic")
	}
}

func TestBudgetSpillsLeastRecentlyUsed(t *testing.T) {
	s := newStore(t, 3*blockSize)
	for i := range 3 {
		mustPut(t, s, i, 10)
	}
	if st := s.Stats(); st.Spills != 0 || st.MemoryBytes != 3*blockSize {
		t.Fatalf("under budget: %+v", st)
	}
	mustGet(t, s, 0, 10) // 1 is now the least recently used
	mustPut(t, s, 3, 10)
	mustPut(t, s, 4, 10)
	for i, want := range []string{"mem", "disk", "disk", "mem", "mem"} {
		if got := where(s, i); got != want {
			t.Errorf("block %d: %s, want %s", i, got, want)
		}
	}
	st := s.Stats()
	if st.Blocks != 5 || st.Records != 50 || st.SpilledBlocks != 2 || st.Spills != 2 || st.MemoryBytes != 3*blockSize {
		t.Fatalf("Stats = %+v", st)
	}
	checkInvariants(t, s)

	// A spilled block reads back equal; it stays on disk while it does
	// not fit, and comes back once memory is freed.
	mustGet(t, s, 1, 10)
	if where(s, 1) != "disk" {
		t.Fatal("block 1 loaded over the budget")
	}
	s.Remove(map[lineage.ID]bool{bid(0).Dataset: true})
	mustGet(t, s, 1, 10)
	if where(s, 1) != "mem" {
		t.Fatal("block 1 not loaded back")
	}
	mustGet(t, s, 1, 10)
	checkInvariants(t, s)
	if st := s.Stats(); st.SpilledBlocks != 1 || st.MemoryBytes != 3*blockSize {
		t.Fatalf("after load: %+v", st)
	}
}

func TestBlockOverBudgetSpillsItself(t *testing.T) {
	s := newStore(t, 2*blockSize)
	mustPut(t, s, 0, 10)
	mustPut(t, s, 1, 100) // alone over the budget
	if where(s, 0) != "mem" || where(s, 1) != "disk" {
		t.Fatalf("block 0 %s, block 1 %s; want mem, disk", where(s, 0), where(s, 1))
	}
	mustGet(t, s, 1, 100)
	if where(s, 1) != "disk" {
		t.Fatal("block over the budget loaded back")
	}
	checkInvariants(t, s)
}

func TestEncoded(t *testing.T) {
	s := newStore(t, blockSize)
	mustPut(t, s, 0, 10)
	want := strs.Encode(nil, block(0, 10))
	if b, ok, err := s.Encoded(bid(0)); err != nil || !ok || !slices.Equal(b, want) {
		t.Fatalf("in memory: %x, %v, %v; want %x", b, ok, err, want)
	}
	mustPut(t, s, 1, 10)
	if where(s, 0) != "disk" {
		t.Fatal("block 0 not spilled")
	}
	if b, ok, err := s.Encoded(bid(0)); err != nil || !ok || !slices.Equal(b, want) {
		t.Fatalf("spilled: %x, %v, %v; want %x", b, ok, err, want)
	}
	if where(s, 0) != "disk" {
		t.Fatal("Encoded loaded the block")
	}
	if _, ok, err := s.Encoded(bid(9)); ok || err != nil {
		t.Fatalf("missing block: %v, %v", ok, err)
	}
}

func TestPutEncoded(t *testing.T) {
	s := newStore(t, -1)
	if err := s.PutEncoded(bid(0), strs.Encode(nil, block(0, 10)), strs); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, 0, 10)
	err := s.PutEncoded(bid(1), []byte{0xff}, strs)
	if !errors.Is(err, codec.ErrCorrupt) || s.Has(bid(1)) {
		t.Fatalf("bad bytes: %v, stored %v", err, s.Has(bid(1)))
	}
}

func TestRemoveAndReplaceDeleteFiles(t *testing.T) {
	s := newStore(t, blockSize)
	for i := range 4 {
		mustPut(t, s, i, 10)
	}
	if n := len(spillFiles(t, s)); n != 3 {
		t.Fatalf("%d spill files, want 3", n)
	}
	mustPut(t, s, 0, 20) // replaces a spilled block, deleting its file
	checkInvariants(t, s)
	mustGet(t, s, 0, 20)
	ds := map[lineage.ID]bool{}
	for i := range 4 {
		ds[bid(i).Dataset] = true
	}
	s.Remove(ds)
	if files := spillFiles(t, s); len(files) != 0 {
		t.Fatalf("files left after Remove: %q", files)
	}
	if st := s.Stats(); st.Blocks != 0 || st.MemoryBytes != 0 || st.SpilledBytes != 0 || st.Records != 0 {
		t.Fatalf("after Remove: %+v", st)
	}
	checkInvariants(t, s)
}

func TestCorruptSpillFile(t *testing.T) {
	valid := func(payload []byte) []byte {
		b, err := encodeSpill(make([]byte, headerLen), rawType{}, payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		encoded bool // Encoded still succeeds: the payload is intact but does not decode
	}{
		{"flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, false},
		{"short", func(b []byte) []byte { return b[:5] }, false},
		{"empty", func(b []byte) []byte { return nil }, false},
		{"magic", func(b []byte) []byte { b[0] = 'x'; return b }, false},
		{"undecodable", func([]byte) []byte { return valid([]byte{0xff, 0xff}) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, blockSize)
			mustPut(t, s, 0, 10)
			mustPut(t, s, 1, 10)
			s.mu.Lock()
			file := s.blocks[bid(0)].file
			s.mu.Unlock()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			v, ok, err := s.Get(bid(0))
			if !errors.Is(err, ErrCorrupt) || ok || v != nil {
				t.Fatalf("Get = %v, %v, %v; want ErrCorrupt", v, ok, err)
			}
			t.Log(err)
			_, _, err = s.Encoded(bid(0))
			if tc.encoded != (err == nil) || err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Encoded: %v", err)
			}
			mustGet(t, s, 1, 10)
		})
	}
}

func TestSpillFileDeletedBehindOurBack(t *testing.T) {
	s := newStore(t, blockSize)
	mustPut(t, s, 0, 10)
	mustPut(t, s, 1, 10)
	s.mu.Lock()
	file := s.blocks[bid(0)].file
	s.mu.Unlock()
	os.Remove(file)
	if _, _, err := s.Get(bid(0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get = %v; want ErrNotExist", err)
	}
}

// rawType encodes a []byte as itself.
type rawType struct{ strsType }

func (rawType) Encode(dst []byte, p any) []byte { return append(dst, p.([]byte)...) }

func TestCloseRemovesDir(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		s := New(Config{MemoryBytes: 1})
		mustPut(t, s, 0, 10)
		dirs, _ := filepath.Glob(filepath.Join(tmp, fmt.Sprintf("sluice-blocks-%d-*", os.Getpid())))
		if len(dirs) != 1 || len(spillFiles(t, s)) != 1 {
			t.Fatalf("spill dirs %q, files %q", dirs, spillFiles(t, s))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("spill dir left: %v", err)
		}
	})
	t.Run("created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "spill")
		s := New(Config{MemoryBytes: 1, SpillDir: dir})
		mustPut(t, s, 0, 10)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("spill dir left: %v", err)
		}
	})
	t.Run("existing", func(t *testing.T) {
		dir := t.TempDir()
		s := New(Config{MemoryBytes: 1, SpillDir: dir})
		mustPut(t, s, 0, 10)
		mustPut(t, s, 1, 10)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Fatalf("existing dir: %v, %v; want it kept, empty", ents, err)
		}
	})
	t.Run("unused", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		s := New(Config{})
		mustPut(t, s, 0, 10)
		if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
			t.Fatalf("created %v without spilling", ents)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(bid(1), block(1, 1), strs); !errors.Is(err, ErrClosed) {
			t.Fatalf("Put after Close: %v", err)
		}
		if s.Has(bid(0)) || s.Close() != nil {
			t.Fatal("closed store holds a block or fails a second Close")
		}
	})
}

// panicType is a partition type whose codec refuses it (like a record
// type with unexported fields): its blocks stay in memory.
type panicType struct{ strsType }

func (panicType) Encode([]byte, any) []byte { panic("codec: type x has unexported field y") }

func TestUnencodableBlocksAreNeverSpilled(t *testing.T) {
	s := New(Config{MemoryBytes: 1, SpillDir: t.TempDir()})
	defer s.Close()
	for i := 0; i < 3; i++ {
		id := ID{Part: i}
		if err := s.Put(id, []string{"payload"}, panicType{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	// An empty partition of such a type cannot be spilled either.
	if err := s.Put(ID{Part: 3}, []string(nil), panicType{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if st := s.Stats(); st.Blocks != 4 || st.SpilledBlocks != 0 {
		t.Fatalf("stats %+v: want 4 blocks in memory", st)
	}
	if _, ok, err := s.Get(ID{Part: 1}); !ok || err != nil {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if _, _, err := s.Encoded(ID{Part: 1}); err == nil || !strings.Contains(err.Error(), "unexported") {
		t.Fatalf("Encoded = %v, want the codec's refusal", err)
	}
}
