package codec_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
)

// TestAllocs checks the fast paths do not allocate per record: encoding
// into a large enough buffer allocates nothing, and decoding allocates the
// result slice and the reader, plus one per string.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	ints, strs, pairs := benchInts(), benchStrings(), benchPairs()
	check := func(name string, want float64, f func()) {
		if got := testing.AllocsPerRun(20, f); got > want {
			t.Errorf("%s: %v allocations, want at most %v", name, got, want)
		}
	}
	ci, cs, cp := codec.For[int64](), codec.For[string](), codec.For[KV[string, int64]]()
	buf := make([]byte, 0, 1<<20)
	check("encode int64", 0, func() { buf = ci.Append(buf[:0], ints) })
	check("encode pair", 0, func() { buf = cp.Append(buf[:0], pairs) })
	ib, sb, pb := ci.Append(nil, ints), cs.Append(nil, strs), cp.Append(nil, pairs)
	check("decode int64", 2, func() { _, _ = ci.Decode(ib) })
	check("decode string", 2+benchN, func() { _, _ = cs.Decode(sb) })
	check("decode pair", 2+benchN, func() { _, _ = cp.Decode(pb) })
	h := codec.Hasher[string]()
	check("hash string", 0, func() { _ = h(strs[0]) })
}
