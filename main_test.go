package sluice_test

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// defaultRapidChecks keeps the property tests quick: every check runs
// whole streaming jobs. -rapid.checks (or RAPID_CHECKS) overrides it.
const defaultRapidChecks = 25

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit && flag.Lookup("rapid.checks") != nil {
		if err := flag.Set("rapid.checks", fmt.Sprint(defaultRapidChecks)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	goleak.VerifyTestMain(m)
}

// kv is the keyed record most tests use.
type kv = sluice.KV[string, int]

func p(k string, v int) kv { return sluice.Pair(k, v) }

// batches spells out expected outputs: batches(b1, b2, ...).
func batches[T any](bs ...[]T) [][]T { return bs }

// none is an empty batch.
func none[T any]() []T { return nil }

// byString orders records by their printed form: a total order for any
// record type, good enough to compare batches whose order is unspecified.
func byString[T any](a, b T) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) }

// sorted returns copies of the batches, each sorted by byString.
func sorted[T any](bs [][]T) [][]T {
	out := make([][]T, len(bs))
	for i, b := range bs {
		out[i] = slices.Clone(b)
		slices.SortStableFunc(out[i], byString[T])
	}
	return out
}

// sameBatches reports whether got and want hold equal batches, an empty
// batch being equal to a nil one.
func sameBatches[T any](got, want [][]T) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) == 0 && len(want[i]) == 0 {
			continue
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}

// assertBatches checks that got equals want batch for batch, order within a
// batch included (narrow operations keep the input's order).
func assertBatches[T any](t testing.TB, got, want [][]T) {
	t.Helper()
	if !sameBatches(got, want) {
		t.Fatalf("batches differ\n%s", diffBatches(got, want))
	}
}

// assertSorted checks that got equals want batch for batch, ignoring the
// order of records within a batch.
func assertSorted[T any](t testing.TB, got, want [][]T) {
	t.Helper()
	g, w := sorted(got), sorted(want)
	if !sameBatches(g, w) {
		t.Fatalf("batches differ (order within a batch ignored)\n%s", diffBatches(g, w))
	}
}

func diffBatches[T any](got, want [][]T) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w any = "(missing)", "(missing)"
		mark := "  "
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(got) || i >= len(want) || !sameBatches(got[i:i+1], want[i:i+1]) {
			mark = "!="
		}
		fmt.Fprintf(&b, "%s batch %d: got %v, want %v\n", mark, i+1, g, w)
	}
	return b.String()
}

// assertTimes checks that out produced batches exactly at the given batch
// numbers of h (1 is the first batch).
func assertTimes[T any](t testing.TB, h *sluicetest.Harness, out *sluicetest.Output[T], want ...int) {
	t.Helper()
	got := out.Times()
	wantT := make([]time.Time, len(want))
	for i, n := range want {
		wantT[i] = h.Time(n)
	}
	if !slices.EqualFunc(got, wantT, time.Time.Equal) {
		t.Fatalf("output at %v, want at %v", millis(got), millis(wantT))
	}
}

func millis(ts []time.Time) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.UnixMilli()
	}
	return out
}

// sortValues sorts the grouped values of every record, for operations that
// do not specify the order of a key's values.
func sortValues[K comparable, V cmp.Ordered](bs [][]sluice.KV[K, []V]) [][]sluice.KV[K, []V] {
	out := make([][]sluice.KV[K, []V], len(bs))
	for i, b := range bs {
		for _, r := range b {
			vs := slices.Clone(r.Value)
			slices.Sort(vs)
			out[i] = append(out[i], sluice.Pair(r.Key, vs))
		}
	}
	return out
}

// manualJob is a context on a manual clock run without the harness, for
// tests whose job is expected to fail: the harness fails a test whose job
// stopped with an error.
type manualJob struct {
	t     testing.TB
	ctx   *sluice.Context
	clock *sluicetest.ManualClock
	infos chan sluice.BatchInfo
	batch time.Duration
}

func newManualJob(t testing.TB, batch time.Duration, opts ...sluice.Option) *manualJob {
	t.Helper()
	j := &manualJob{t: t, clock: sluicetest.NewManualClock(sluicetest.Epoch), infos: make(chan sluice.BatchInfo, 64), batch: batch}
	all := append([]sluice.Option{sluice.Master("local[2]"), sluice.Output(io.Discard)}, opts...)
	all = append(all, sluice.Batch(batch), sluice.WithClock(j.clock), sluice.OnBatch(func(b sluice.BatchInfo) { j.infos <- b }))
	c, err := sluice.NewContext(all...)
	if err != nil {
		t.Fatal(err)
	}
	j.ctx = c
	t.Cleanup(func() { _ = c.Stop() })
	return j
}

// step advances the clock by one batch and returns that batch's report.
func (j *manualJob) step() sluice.BatchInfo {
	j.t.Helper()
	j.clock.Advance(j.batch)
	select {
	case info := <-j.infos:
		return info
	case <-time.After(30 * time.Second):
		j.t.Fatal("batch did not complete in 30s")
		return sluice.BatchInfo{}
	}
}

func ints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func add(a, b int) int { return a + b }
func sub(a, b int) int { return a - b }
