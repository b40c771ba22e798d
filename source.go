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
// replan, if not nil, plans a batch again that no plan was recorded of
// (before a resume, or in a Replay) without changing where plan goes on
// from: inputs whose batches are a pure function of their time have one.
func newInput[T any, P any](c *Context, kind string, plan func(t time.Time) (P, int64, error),
	build func(t time.Time, sc *lineage.Scope, p P) Dataset[T], replan func(t time.Time) (P, error)) *Stream[T] {
	var mu sync.Mutex
	plans := make(map[int64]P)
	// In a cluster, workers rebuild the input's datasets from the plan,
	// which the driver keeps encoded for them (see Context.planFor).
	wire := codec.For[P]()
	n := &node{kind: kind, plans: make(map[int64][]byte), replay: replan != nil}
	n.plan = func(t time.Time) (int64, error) {
		p, count, err := plan(t)
		if err != nil {
			return 0, err
		}
		if n.rate != nil {
			n.rate.planned(t, count)
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
		if !ok && c.wk == nil {
			// Computed again (the dataset was forgotten, and state
			// recomputed after a resume or a lost worker reads it): the
			// plan the driver still keeps for its workers, so that both
			// build the same partitions.
			n.mu.Lock()
			b, kept := n.plans[t.UnixNano()]
			n.mu.Unlock()
			if ps, err := wire.Decode(b); kept && err == nil && len(ps) == 1 {
				p, ok = ps[0], true
			}
		}
		if !ok && c.wk == nil && c.resumedBefore(t) {
			// A batch before a resume that the checkpoint kept no plan
			// of (only an operator new in this job reads it): planned
			// again if the input can, else empty (in a replay, an error).
			if !n.replay && c.replaying() {
				return nil, c.noPlan(n, t)
			}
			if n.replay {
				var err error
				if p, err = replan(t); err != nil {
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
	}, nil)
}

// Generator makes the records of a replayable generated stream: record i
// is a pure function of i (and the generator's seed), so any range can be
// made again, anywhere, with the same result.
type Generator[T any] interface {
	// Records returns records [from, to). Their event times spread
	// evenly over [start, end): the records' share of the interval of the
	// batch they arrived in (see Generate), in proportion to their share
	// of its records, so record i's time is the same whichever batch reads
	// it and, to within a nanosecond, however the batch is partitioned
	// (exactly when the interval is a whole number of nanoseconds per
	// record: a partition's share is interpolated over its own span). A
	// partition of a batch that reads records of several intervals (held
	// back by backpressure) calls Records once per interval. The slice
	// returned becomes the partition: Records must not keep or change it.
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

// Generate makes a replayable stream of rate records per second from g,
// split into the context's parallelism of partitions. The same generator
// and batch always give the same records; they are made inside the tasks.
//
// Records arrive at rate: batch k (from 0) is the interval in which
// records [⌊k·n⌋, ⌊(k+1)·n⌋) arrive, with n = rate × batch interval in
// seconds, spread evenly over it, and a record's event time (see
// Generator) is its arrival. A batch reads the records that arrived and
// that earlier batches did not read, up to the input's limit when
// backpressure or MaxRate holds it back (records then wait for later
// batches, with the event time of their arrival). Without a limit that
// binds, batch k holds exactly the records that arrive in it.
//
// Each batch's range is recorded in the metadata checkpoint (see
// Checkpoint): a restarted driver reruns the batches it had planned with
// the same records, and goes on from the end of the last one.
func Generate[T any](c *Context, g Generator[T], rate int) *Stream[T] {
	c.check("Generate", g == nil, "nil generator")
	c.check("Generate", rate < 0, "negative rate %d", rate)
	a := newArrivals(c, rate)
	cur := &genCursor{next: -1, restored: make(map[int64]genRange)}
	var self *node
	s := newInput(c, "Generate", func(t time.Time) (genRange, int64, error) {
		r := cur.plan(t.UnixNano(), a, a.batch(t), self.rate.limit())
		return r, r.to - r.from, nil
	}, func(t time.Time, sc *lineage.Scope, r genRange) Dataset[T] {
		parts := c.cfg.parallelism
		spans := make([][]genSpan, parts)
		n := r.to - r.from
		for p := range spans {
			spans[p] = a.spans(r.from+int64(p)*n/int64(parts), r.from+int64(p+1)*n/int64(parts))
		}
		// MapPartitions hands on the generator's slice as the partition:
		// a FlatMap would copy every record into a growing one.
		return dataset.MapPartitions(dataset.Parallelize(c.env, sc, spans, parts), func(p [][]genSpan) []T {
			if len(p) == 1 && len(p[0]) == 1 {
				s := p[0][0]
				return g.Records(s.from, s.to, s.start, s.end)
			}
			var out []T
			for _, ss := range p {
				for _, s := range ss {
					out = append(out, g.Records(s.from, s.to, s.start, s.end)...)
				}
			}
			return out
		})
	}, func(t time.Time) (genRange, error) {
		// A batch no plan was recorded of is planned as if no limit had
		// bound: exact unless one did then (see restorePlan).
		k := a.batch(t)
		return genRange{a.upTo(k), a.upTo(k + 1)}, nil
	})
	self = s.n
	self.rate = c.newInputRate()
	restore := self.restorePlan
	self.restorePlan = func(t int64, b []byte) error {
		if err := restore(t, b); err != nil {
			return err
		}
		rs, err := codec.For[genRange]().Decode(b)
		if err != nil || len(rs) != 1 {
			return fmt.Errorf("%d plans, %v", len(rs), err)
		}
		cur.restore(t, rs[0])
		return nil
	}
	return s
}

// genCursor is where a generated stream goes on reading from.
type genCursor struct {
	mu sync.Mutex
	// next is the first record no batch planned yet (-1: none planned).
	next int64
	// restored are the plans a metadata checkpoint recorded, by batch
	// time: a resumed driver plans those batches the same way again.
	restored map[int64]genRange
}

// plan fixes batch t (number k)'s range: the records that arrived by its
// end and that no batch read, up to limit (-1: none).
func (g *genCursor) plan(t int64, a *arrivals, k, limit int64) genRange {
	g.mu.Lock()
	defer g.mu.Unlock()
	for rt := range g.restored {
		if rt < t {
			delete(g.restored, rt)
		}
	}
	if r, ok := g.restored[t]; ok { // planned before a restart: the same again
		delete(g.restored, t)
		g.next = r.to
		return r
	}
	from := g.next
	if from < 0 {
		from = a.upTo(k)
	}
	to := max(a.upTo(k+1), from)
	if limit >= 0 && to-from > limit {
		to = from + limit
	}
	g.next = to
	return genRange{from, to}
}

// restore takes back a recorded plan: the batch keeps it, and the next
// batches go on after the latest.
func (g *genCursor) restore(t int64, r genRange) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.restored[t] = r
	g.next = max(g.next, r.to)
}

// arrivals is when a generated stream's records arrive: at its rate,
// batch k's share, [upTo(k), upTo(k+1)), spread evenly over the batch's
// interval.
type arrivals struct {
	c        *Context      // its zero time is known once it started
	interval time.Duration // the batch interval
	perBatch uint64        // records per batch, in 1e-9 records
}

func newArrivals(c *Context, rate int) *arrivals {
	// Batch k (from 0) ends after ⌊(k+1)·rate·B/1s⌋ records: a pure
	// function of k, so that the rate is exact over time (a rate of 3/s
	// in 500ms batches gives 1, 2, 1, 2, … records, and 1/s in 100ms
	// batches one record every tenth batch).
	r := uint64(max(rate, 0))
	if hi, _ := bits.Mul64(r, uint64(c.cfg.batch)); c.check("Generate", hi > 0, "rate %d is too high", rate) {
		r = 0
	}
	return &arrivals{c: c, interval: c.cfg.batch, perBatch: r * uint64(c.cfg.batch)}
}

// batch returns the number of the batch at time t.
func (a *arrivals) batch(t time.Time) int64 { return int64(t.Sub(a.c.zero())/a.interval) - 1 }

// upTo returns how many records arrived by the end of batch k.
func (a *arrivals) upTo(k int64) int64 {
	if k <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(k), a.perBatch)
	if hi >= uint64(time.Second) {
		return math.MaxInt64 // beyond any run: 2^64 batches' worth
	}
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return int64(min(q, math.MaxInt64))
}

// arrivedIn returns the batch record i arrives in: the smallest k with
// i < upTo(k+1) (upTo grows with k).
func (a *arrivals) arrivedIn(i int64) int64 {
	lo, hi := int64(0), int64(math.MaxInt64/2)
	for lo < hi {
		k := lo + (hi-lo)/2
		if a.upTo(k+1) > i {
			hi = k
		} else {
			lo = k + 1
		}
	}
	return lo
}

// spans cuts records [from, to) at the batches they arrive in, each piece
// with its share of its batch's interval: the event times of its records.
func (a *arrivals) spans(from, to int64) []genSpan {
	var out []genSpan
	if a.perBatch == 0 { // no records arrive (a plan recorded at another rate)
		return []genSpan{{from, to, a.c.zero(), a.c.zero()}}
	}
	for from < to {
		k := a.arrivedIn(from)
		first, last := a.upTo(k), a.upTo(k+1)
		end := min(to, last)
		t := a.c.zero().Add(time.Duration(k+1) * a.interval) // batch k's time
		out = append(out, genSpan{from, end, spanTime(t, a.interval, from-first, last-first), spanTime(t, a.interval, end-first, last-first)})
		from = end
	}
	return out
}

// genSpan is a share of a partition of a generated batch: records that
// arrived in one batch interval, and their share of it.
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
