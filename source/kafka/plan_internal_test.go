package kafka

import (
	"slices"
	"testing"
)

func TestShare(t *testing.T) {
	for _, c := range []struct {
		lags       []int64
		per, limit int64
		want       []int64
	}{
		{[]int64{10, 5}, 0, -1, []int64{10, 5}},
		{[]int64{10, 5}, 3, -1, []int64{3, 3}},
		{[]int64{10, 5}, 0, 5, []int64{3, 2}},       // 3.33, 1.67
		{[]int64{7, 3}, 0, 5, []int64{4, 1}},        // 3.5, 1.5: the tie to the first
		{[]int64{10, 4, 0}, 3, 4, []int64{2, 2, 0}}, // bounded to 3, 3: then 2, 2
		{[]int64{1, 1, 1}, 0, 2, []int64{1, 1, 0}},
		{[]int64{5, 5}, 0, 0, []int64{0, 0}},
		{nil, 0, 3, nil},
		{[]int64{1 << 60, 1 << 60}, 0, 1<<60 + 1, []int64{1<<59 + 1, 1 << 59}},
	} {
		if got := share(c.lags, c.per, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("share(%v, %d, %d) = %v, want %v", c.lags, c.per, c.limit, got, c.want)
		}
	}
}

// FuzzShare checks share's promises: each partition reads at most its lag
// and the bound, in all min(limit, what they have), never less than one
// offset short of its proportional share.
func FuzzShare(f *testing.F) {
	f.Add(int64(10), int64(5), int64(0), int64(0), int64(5))
	f.Add(int64(7), int64(3), int64(9), int64(3), int64(4))
	f.Add(int64(1)<<60, int64(1)<<59, int64(3), int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, a, b, c, per, limit int64) {
		lags := []int64{a & (1<<60 - 1), b & (1<<60 - 1), c & (1<<60 - 1)}
		per &= 1<<60 - 1
		limit = max(limit, -1)
		got := share(lags, per, limit)
		var sum, have int64
		for i, n := range got {
			capped := lags[i]
			if per > 0 {
				capped = min(capped, per)
			}
			if n < 0 || n > capped {
				t.Fatalf("share(%v, %d, %d) = %v: partition %d reads %d of %d", lags, per, limit, got, i, n, capped)
			}
			sum += n
			have += capped
		}
		want := have
		if limit >= 0 {
			want = min(have, limit)
		}
		if sum != want {
			t.Fatalf("share(%v, %d, %d) = %v adds up to %d, want %d", lags, per, limit, got, sum, want)
		}
	})
}

func FuzzParsePosition(f *testing.F) {
	f.Add("orders/3@1234")
	f.Add("a.b-c_d/0@0")
	f.Add("x/@1")
	f.Add("/1@2")
	f.Add("t/1@2@3")
	f.Fuzz(func(t *testing.T, s string) {
		topic, p, o, err := ParsePosition(s)
		if err != nil {
			return
		}
		if again := Position(topic, p, o); again != s {
			// Only a canonical form parses back the same: "t/01@2" reads
			// as t/1@2.
			t2, p2, o2, err := ParsePosition(again)
			if err != nil || t2 != topic || p2 != p || o2 != o {
				t.Fatalf("%q parsed as %q %d %d, formatted as %q, which does not parse back", s, topic, p, o, again)
			}
		}
	})
}
