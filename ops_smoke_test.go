package sluice_test

import (
	"sort"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestSmokeWordCount(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	lines := sluicetest.Input(h, 2, []string{"a b", "b c"}, nil, []string{"a"})
	words := sluice.FlatMap(lines, func(s string) []string { return splitWords(s) })
	pairs := sluice.Map(words, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	counts := sluicetest.Collect(sluice.ReduceByKey(pairs, func(a, b int) int { return a + b }))
	h.Run(3)
	got := counts.Batches()
	for _, b := range got {
		sort.Slice(b, func(i, j int) bool { return b[i].Key < b[j].Key })
	}
	t.Logf("%v", got)
}

func splitWords(s string) []string {
	var out []string
	w := ""
	for _, r := range s {
		if r == ' ' {
			if w != "" {
				out = append(out, w)
			}
			w = ""
			continue
		}
		w += string(r)
	}
	if w != "" {
		out = append(out, w)
	}
	return out
}
