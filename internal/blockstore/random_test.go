package blockstore

import (
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
)

var seedFlag = flag.Uint64("blockstore.seed", 0, "seed for TestRandomAgainstMap (0: from the clock)")

// records is the size of test block i in the random tests, so that any
// reader knows what the block must hold.
func records(i int) int { return 1 + i%7*5 }

func checkGet(t testing.TB, s *Store, i int) {
	t.Helper()
	v, ok, err := s.Get(bid(i))
	if err != nil {
		t.Error(err)
		return
	}
	if ok && !slices.Equal(v.([]string), block(i, records(i))) {
		t.Errorf("Get(%v) = %q", bid(i), v)
	}
}

func checkEncoded(t testing.TB, s *Store, i int) {
	t.Helper()
	b, ok, err := s.Encoded(bid(i))
	if err != nil {
		t.Error(err)
		return
	}
	if ok && !slices.Equal(b, strs.Encode(nil, block(i, records(i)))) {
		t.Errorf("Encoded(%v) = %x", bid(i), b)
	}
}

func TestConcurrentPutGet(t *testing.T) {
	s := newStore(t, 6*blockSize)
	const blocks, workers, ops = 24, 8, 400
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				i := r.IntN(blocks)
				switch op := r.IntN(20); {
				case op < 8:
					if err := s.Put(bid(i), block(i, records(i)), strs); err != nil {
						t.Error(err)
					}
				case op < 15:
					checkGet(t, s, i)
				case op < 18:
					checkEncoded(t, s, i)
				case op < 19:
					s.Remove(map[lineage.ID]bool{bid(i).Dataset: true})
				default:
					s.Stats()
					s.IDs()
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, s)
	if st := s.Stats(); st.Spills == 0 {
		t.Fatalf("nothing spilled: %+v", st)
	}
}

// TestRandomAgainstMap runs random operations, with random spill failures,
// against a store and a map, and compares them after every step.
func TestRandomAgainstMap(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	for run := range 20 {
		seed := seed + uint64(run)
		r := rand.New(rand.NewPCG(seed, 2))
		budget := []int64{-1, 1, blockSize, 4 * blockSize, 20 * blockSize}[r.IntN(5)]
		failRate := []int{0, 0, 5, 50}[r.IntN(4)]
		s := newStore(t, budget)
		s.writeFile = func(name string, b []byte) error {
			if r.IntN(100) < failRate {
				return syscall.ENOSPC
			}
			return writeFileAtomic(name, b)
		}
		ref := map[int]bool{}
		for step := range 300 {
			i := r.IntN(16)
			switch op := r.IntN(10); {
			case op < 4:
				err := s.Put(bid(i), block(i, records(i)), strs)
				if err != nil && failRate == 0 {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				ref[i] = true
			case op < 8:
				checkGet(t, s, i)
			case op < 9:
				checkEncoded(t, s, i)
			default:
				s.Remove(map[lineage.ID]bool{bid(i).Dataset: true})
				delete(ref, i)
			}
			for j := range 16 {
				if s.Has(bid(j)) != ref[j] {
					t.Fatalf("seed %d step %d: Has(%d) = %v, want %v", seed, step, j, !ref[j], ref[j])
				}
			}
			checkInvariants(t, s)
			if t.Failed() {
				t.Fatalf("seed %d (budget %d, failures %d%%) failed at step %d", seed, budget, failRate, step)
			}
		}
	}
}

func TestCloseDuringPuts(t *testing.T) {
	dir := t.TempDir() + "/spill"
	s := New(Config{MemoryBytes: 2 * blockSize, SpillDir: dir})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w * 50; i < (w+1)*50; i++ {
				err := s.Put(bid(i), block(i, records(i)), strs)
				if errors.Is(err, ErrClosed) {
					return
				}
				// A spill may fail once Close has removed the directory.
				checkGet(t, s, i)
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if st := s.Stats(); st.Blocks != 0 || st.MemoryBytes != 0 || st.SpilledBytes != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spill dir left: %v", err)
	}
}
