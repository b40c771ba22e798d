package kafka

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice"
)

// Plan fixes batch req.Batch's ranges, on the driver: every partition
// goes on from where req.Prev ended (a new job from its start position, a
// partition or topic new since the batch before from its start offset) to
// its last stable offset (or, with ReplayByTime, its first record at or
// after the batch time, if that is before), bounded by
// MaxRatePerPartition and then by req.Limit, split across partitions in
// proportion to what each has to read.
func (s *Source[T]) Plan(ctx context.Context, req sluice.PlanRequest[Plan]) (Plan, error) {
	adm, err := s.admin()
	if err != nil {
		return Plan{}, err
	}
	topics, err := s.resolve(ctx, adm)
	if err != nil {
		return Plan{}, err
	}
	if len(topics) == 0 {
		return Plan{}, nil // a pattern that matches nothing yet
	}
	starts, err := listed(adm.ListStartOffsets(ctx, topics...))
	if err != nil {
		return Plan{}, fmt.Errorf("kafka: listing start offsets: %w", err)
	}
	// Under read_committed, the end is the last stable offset: every
	// offset below it is decided, so a range never waits for an open
	// transaction.
	ends, err := listed(adm.ListCommittedOffsets(ctx, topics...))
	if err != nil {
		return Plan{}, fmt.Errorf("kafka: listing end offsets: %w", err)
	}
	var at kadm.ListedOffsets
	if s.cfg.byTime {
		ms := req.Batch.Add(time.Millisecond - 1).UnixMilli() // ts < batch ⇔ ts < ⌈batch⌉ms
		if at, err = listed(adm.ListOffsetsAfterMilli(ctx, ms, topics...)); err != nil {
			return Plan{}, fmt.Errorf("kafka: listing offsets by time: %w", err)
		}
	}
	prev := make(map[string]map[int32]int64)
	if req.HasPrev {
		for _, r := range req.Prev.Ranges {
			if prev[r.Topic] == nil {
				prev[r.Topic] = make(map[int32]int64)
			}
			prev[r.Topic][r.Partition] = r.To
		}
	}
	var plan Plan
	var lags []int64
	for _, t := range topics {
		ps := make([]int32, 0, len(ends[t]))
		for p := range ends[t] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			r, err := s.rangeOf(t, p, req.HasPrev, prev, starts, ends, at)
			if err != nil {
				return Plan{}, err
			}
			plan.Ranges = append(plan.Ranges, r)
			lags = append(lags, r.To-r.From)
		}
	}
	for i, n := range share(lags, s.cfg.perBatch, req.Limit) {
		plan.Ranges[i].To = plan.Ranges[i].From + n
	}
	return plan, nil
}

// rangeOf is partition (t, p)'s range before limits: from where the
// batch before ended to what the batch may read.
func (s *Source[T]) rangeOf(t string, p int32, hasPrev bool, prev map[string]map[int32]int64, starts, ends, at kadm.ListedOffsets) (Range, error) {
	start, _ := starts.Lookup(t, p)
	end, _ := ends.Lookup(t, p)
	from, known := prev[t][p]
	switch {
	case known:
	case !hasPrev && s.cfg.start == Latest:
		from = end.Offset
	default: // Earliest, or a partition new since the job started
		from = start.Offset
	}
	if from < start.Offset {
		if !s.cfg.dataLoss {
			return Range{}, fmt.Errorf("kafka: %s: records up to %d were deleted (retention) before the job read them (AllowDataLoss skips them)",
				Position(t, p, from), start.Offset)
		}
		from = start.Offset
	}
	if from > end.Offset {
		return Range{}, fmt.Errorf("kafka: %s: the partition ends at %d, before where the job read to (was the topic deleted and made again?)",
			Position(t, p, from), end.Offset)
	}
	to := end.Offset
	if s.cfg.byTime {
		if o, ok := at.Lookup(t, p); ok && o.Offset >= 0 {
			to = min(to, o.Offset)
		}
	}
	return Range{Topic: t, Partition: p, From: from, To: max(to, from)}, nil
}

// share returns how many offsets each partition reads given what each
// has (lags): at most perPartition each (0: no bound), then, if they add
// up to more than limit (-1: none), limit split in proportion to each
// one's share, rounded down, with the remainder going one by one to the
// largest fractional parts (the earliest partition first on ties), as
// Spark's DirectKafkaInputDStream splits its backpressure rate. The
// result adds up to min(limit, the bounded lags). The lags must add up
// to less than 2^63 (a cluster holds far fewer records).
func share(lags []int64, perPartition, limit int64) []int64 {
	out := slices.Clone(lags)
	var total int64
	for i := range out {
		if perPartition > 0 {
			out[i] = min(out[i], perPartition)
		}
		total += out[i]
	}
	if limit < 0 || total <= limit {
		return out
	}
	type frac struct {
		i   int
		rem int64 // limit×lag mod total: the fractional part, times total
	}
	fracs := make([]frac, len(out))
	var given int64
	for i, n := range out {
		q, rem := mulDiv(limit, n, total)
		out[i] = q
		given += q
		fracs[i] = frac{i, rem}
	}
	slices.SortStableFunc(fracs, func(a, b frac) int {
		if a.rem != b.rem {
			if a.rem > b.rem {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	for k := 0; given < limit; k++ {
		out[fracs[k].i]++
		given++
	}
	return out
}

// mulDiv returns ⌊a×b/c⌋ and a×b mod c, for 0 ≤ a, b ≤ c (no overflow:
// the product is taken on 128 bits).
func mulDiv(a, b, c int64) (q, r int64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	qq, rr := bits.Div64(hi, lo, uint64(c))
	return int64(qq), int64(rr)
}

// resolve returns the topics to read, sorted: the ones given, or with
// Regex the cluster's topics that match.
func (s *Source[T]) resolve(ctx context.Context, adm *kadm.Client) ([]string, error) {
	if !s.cfg.regex {
		return slices.Sorted(slices.Values(s.topics)), nil
	}
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: listing topics: %w", err)
	}
	var out []string
	for _, t := range all.Names() {
		if strings.HasPrefix(t, "__") {
			continue // the cluster's own
		}
		for _, re := range s.res {
			if re.MatchString(t) {
				out = append(out, t)
				break
			}
		}
	}
	return out, nil
}

// listed returns a listing's offsets, or its first error (a missing topic
// among them).
func listed(l kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	if err != nil {
		return nil, err
	}
	if err := l.Error(); err != nil {
		for t, ps := range l {
			for p, o := range ps {
				if o.Err != nil {
					if p < 0 {
						return nil, fmt.Errorf("topic %s: %w", t, o.Err)
					}
					return nil, fmt.Errorf("%s/%d: %w", t, p, o.Err)
				}
			}
		}
	}
	return l, nil
}

// Commit sets the Group's committed offsets to the end of batch's plan
// (nothing without a Group).
func (s *Source[T]) Commit(ctx context.Context, batch time.Time, plan Plan) error {
	if s.cfg.group == "" {
		return nil
	}
	adm, err := s.admin()
	if err != nil {
		return err
	}
	os := make(kadm.Offsets)
	for _, r := range plan.Ranges {
		os.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.To, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctx, s.cfg.group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: committing group %s's offsets: %w", s.cfg.group, err)
	}
	return nil
}
