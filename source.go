package sluice

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/gen"
	"github.com/sluicehq/sluice/internal/lineage"
)

// newInput adds an input stream. plan runs on the driver once per batch,
// in order, and fixes the batch's input (returning its record count, or
// -1 when unknown until read); make builds the batch's dataset from it.
func newInput[T any, P any](c *Context, kind string, plan func(t time.Time) (P, int64, error),
	build func(t time.Time, sc *lineage.Scope, p P) Dataset[T]) *Stream[T] {
	var mu sync.Mutex
	plans := make(map[int64]P)
	// In a cluster, workers rebuild the input's datasets from the plan,
	// which the driver keeps encoded for them (see Context.planFor).
	wire := codec.For[P]()
	n := &node{kind: kind, plans: make(map[int64][]byte)}
	n.plan = func(t time.Time) (int64, error) {
		p, count, err := plan(t)
		if err != nil {
			return 0, err
		}
		if c.cl != nil || c.ck != nil {
			b := wire.Append(nil, []P{p})
			n.mu.Lock()
			n.plans[t.UnixNano()] = b
			n.mu.Unlock()
		}
		mu.Lock()
		plans[t.UnixNano()] = p
		for pt := range plans { // plans no batch will read (nothing used them)
			if pt < t.Add(-n.remember).UnixNano() {
				delete(plans, pt)
			}
		}
		mu.Unlock()
		return count, nil
	}
	n.restorePlan = func(t int64, b []byte) error {
		ps, err := wire.Decode(b)
		if err != nil || len(ps) != 1 {
			return fmt.Errorf("%d plans, %v", len(ps), err)
		}
		mu.Lock()
		plans[t] = ps[0]
		mu.Unlock()
		n.mu.Lock()
		n.plans[t] = b
		n.mu.Unlock()
		return nil
	}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		mu.Lock()
		p, ok := plans[t.UnixNano()]
		delete(plans, t.UnixNano())
		mu.Unlock()
		if !ok && c.wk == nil && c.resumedBefore(t) {
			// A batch before a resume that the checkpoint kept no plan
			// of (only an operator new in this job reads it): planned
			// again if the input can, else empty (in a replay, an error).
			if !n.replay && c.replaying() {
				return nil, c.noPlan(n, t)
			}
			if n.replay {
				var err error
				if p, _, err = plan(t); err != nil {
					return nil, err
				}
			}
			ok = true
		}
		if !ok && c.wk != nil {
			b, err := c.wk.plan(n.id, t.UnixNano())
			if err != nil {
				return nil, err
			}
			ps, err := wire.Decode(b)
			if err != nil || len(ps) != 1 {
				return nil, fmt.Errorf("sluice: %s's plan for %v from the driver: %d records, %v", kind, t, len(ps), err)
			}
			p, ok = ps[0], true
		}
		if !ok {
			return nil, fmt.Errorf("sluice: %s has no input planned for %v", kind, t)
		}
		return build(t, n.scope(t), p).Lineage(), nil
	}
	return newStream[T](c, n)
}

// Queue holds the batches a QueueStream feeds, one per batch interval.
type Queue[T any] struct {
	mu      sync.Mutex
	batches [][]T
}

// NewQueue makes a queue holding the given batches.
func NewQueue[T any](batches ...[]T) *Queue[T] {
	return &Queue[T]{batches: append([][]T(nil), batches...)}
}

// Push appends one batch.
func (q *Queue[T]) Push(records ...T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, append([]T(nil), records...))
}

// Len returns the number of batches not yet consumed.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.batches)
}

func (q *Queue[T]) pop() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.batches) == 0 {
		return nil
	}
	b := q.batches[0]
	q.batches = q.batches[1:]
	return b
}

// QueueStream makes a stream whose every batch is the next batch of q (an
// empty batch once q is empty), split into parts partitions (parts <= 0:
// the context's parallelism). It is the input of tests.
func QueueStream[T any](c *Context, q *Queue[T], parts int) *Stream[T] {
	return newInput(c, "QueueStream", func(time.Time) ([]T, int64, error) {
		b := q.pop()
		return b, int64(len(b)), nil
	}, func(_ time.Time, sc *lineage.Scope, b []T) Dataset[T] {
		return dataset.Parallelize(c.env, sc, b, parts)
	})
}

// Generator makes the records of a replayable generated stream: record i
// is a pure function of i (and the generator's seed), so any range can be
// made again, anywhere, with the same result.
type Generator[T any] interface {
	// Records returns records [from, to). Their event times spread
	// evenly over [start, end): each partition of a batch gets its share
	// of the batch interval, in proportion to its share of the records, so
	// record i's time is the same (to the nanosecond) however the batch is
	// partitioned.
	Records(from, to int64, start, end time.Time) []T
}

// GeneratorFunc adapts a function to Generator.
type GeneratorFunc[T any] func(from, to int64, start, end time.Time) []T

// Records calls f.
func (f GeneratorFunc[T]) Records(from, to int64, start, end time.Time) []T {
	return f(from, to, start, end)
}

// genRange is one batch's input of a generated stream.
type genRange struct{ from, to int64 }

// Generate makes a replayable stream of rate records per second from g:
// batch k (from 0) holds records [⌊k·n⌋, ⌊(k+1)·n⌋) with n = rate × batch
// interval in seconds, split into the context's parallelism of
// partitions. The same generator and batch always give the same records;
// they are made inside the tasks.
func Generate[T any](c *Context, g Generator[T], rate int) *Stream[T] {
	c.check("Generate", g == nil, "nil generator")
	c.check("Generate", rate < 0, "negative rate %d", rate)
	// Batch k (from 0) ends after ⌊(k+1)·rate·B/1s⌋ records: a pure
	// function of k, so that a batch planned again after a restart gets
	// the same records, and the rate is exact over time (a rate of 3/s in
	// 500ms batches gives 1, 2, 1, 2, … records, and 1/s in 100ms batches
	// one record every tenth batch).
	r := uint64(max(rate, 0))
	if hi, _ := bits.Mul64(r, uint64(c.cfg.batch)); c.check("Generate", hi > 0, "rate %d is too high", rate) {
		r = 0
	}
	perBatch := r * uint64(c.cfg.batch) // records per batch, in 1e-9 records
	upTo := func(k int64) int64 {
		hi, lo := bits.Mul64(uint64(k), perBatch)
		if hi >= uint64(time.Second) {
			return math.MaxInt64 // beyond any run: 2^64 batches' worth
		}
		q, _ := bits.Div64(hi, lo, uint64(time.Second))
		return int64(min(q, math.MaxInt64))
	}
	s := newInput(c, "Generate", func(t time.Time) (genRange, int64, error) {
		k := int64(t.Sub(c.zero())/c.cfg.batch) - 1
		r := genRange{upTo(k), upTo(k + 1)}
		return r, r.to - r.from, nil
	}, func(t time.Time, sc *lineage.Scope, r genRange) Dataset[T] {
		parts := c.cfg.parallelism
		ranges := make([]genSpan, parts)
		n := r.to - r.from
		for p := range ranges {
			from, to := r.from+int64(p)*n/int64(parts), r.from+int64(p+1)*n/int64(parts)
			ranges[p] = genSpan{from, to, spanTime(t, c.cfg.batch, from-r.from, n), spanTime(t, c.cfg.batch, to-r.from, n)}
		}
		spans := dataset.Parallelize(c.env, sc, ranges, parts)
		return dataset.FlatMap(spans, func(s genSpan) []T {
			return g.Records(s.from, s.to, s.start, s.end)
		})
	})
	s.n.replay = true
	return s
}

// genSpan is one partition's share of a generated batch: its records and
// their share of the batch interval.
type genSpan struct {
	from, to   int64
	start, end time.Time
}

// spanTime is the event time of the k-th of n records of the batch ending
// at t: the records are spread evenly over [t−batch, t).
func spanTime(t time.Time, batch time.Duration, k, n int64) time.Time {
	if n == 0 {
		return t.Add(-batch)
	}
	hi, lo := bits.Mul64(uint64(k), uint64(batch))
	q, _ := bits.Div64(hi, lo, uint64(n))
	return t.Add(-batch + time.Duration(q))
}

// TextGenerator makes the benchmarks' text records (DESIGN.md section 11):
// 100-byte lines of words from a 10,000-word vocabulary drawn with a Zipf
// distribution (s = 1.1), determined by seed.
func TextGenerator(seed uint64) Generator[string] {
	g := gen.Text{Seed: seed}
	return GeneratorFunc[string](func(from, to int64, _, _ time.Time) []string {
		return g.AppendRange(make([]string, 0, max(to-from, 0)), from, to)
	})
}

// GrepPattern is a 3-letter pattern found in about 0.1% of TextGenerator's
// records.
const GrepPattern = gen.GrepPattern
