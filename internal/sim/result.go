package sim

import (
	"slices"
	"time"
)

// Result is what one run measured. Times are in seconds, for JSON and charts.
type Result struct {
	Model       Model   `json:"model"`
	Nodes       int     `json:"nodes"`
	Slots       int     `json:"slots_per_node"`
	Load        float64 `json:"load"`
	Interval    float64 `json:"batch_interval_s"`
	Seed        int64   `json:"seed"`
	Speculation bool    `json:"speculation"`
	Stragglers  int     `json:"stragglers"`
	Slowdown    float64 `json:"straggler_slowdown,omitempty"`
	// Tasks per batch (map and reduce) and their actual mean duration.
	TasksPerBatch int     `json:"tasks_per_batch"`
	TaskTime      float64 `json:"task_time_s"`
	// Processing[b] is the time from batch b's submission (its batch
	// time) to its completion. Batches complete in order, and those not
	// complete at a failure only once the lost state is rebuilt. -1 for a
	// batch that never completed.
	Processing []float64 `json:"processing_s"`
	P50        float64   `json:"p50_s"`
	P90        float64   `json:"p90_s"`
	Max        float64   `json:"max_s"`
	// KeptUp says every batch completed within one batch interval.
	KeptUp bool `json:"kept_up"`
	// The failure, if any: when, how many batches since the checkpoint
	// were lost, how many tasks rebuilt them (under Parallel, the failed
	// node's map tasks of the lost batches, then Chains tasks, one per
	// state partition it held, each running Lost reduce steps in turn),
	// when that was done (RebuiltAt, from the failure), and the recovery
	// time: from the failure until the lost state is rebuilt and no batch
	// is late any more (-1: a batch is still late at the end of the run,
	// or never completed). A batch is late if it completes more than one
	// task time (TaskTime) after it does in the same run with a failure
	// that loses no state (see Run): the cluster left is smaller under
	// Parallel (Nodes-1 nodes carry all the work), and the standby does its
	// share one batch at a time under UpstreamBackup, so batches may take
	// longer for good; only what the lost state costs counts.
	FailAt    float64 `json:"fail_at_s,omitempty"`
	Lost      int     `json:"lost_batches,omitempty"`
	RecTasks  int     `json:"recovery_tasks,omitempty"`
	Chains    int     `json:"recovery_chains,omitempty"`
	RebuiltAt float64 `json:"rebuilt_after_s,omitempty"`
	Recovery  float64 `json:"recovery_s,omitempty"`
	// What the scheduler's speculation and exclusion did.
	Backups    int `json:"backups"`
	BackupsWon int `json:"backups_won"`
	Exclusions int `json:"exclusions"`
	// Events is how many events the simulation handled: with a failure,
	// those of both runs (see Run).
	Events int `json:"events"`
}

func secs(d time.Duration) float64 { return d.Seconds() }

// result reports the first n batches.
func (r *run) result(n int) Result {
	c := r.cfg
	res := Result{
		Model: c.Model, Nodes: c.Nodes, Slots: c.SlotsPerNode, Load: c.Load,
		Interval: secs(c.BatchInterval), Seed: c.Seed, Speculation: c.Speculation,
		Stragglers: c.Stragglers, Slowdown: c.StragglerSlowdown,
		TasksPerBatch: r.mapTasks + r.redTasks, TaskTime: secs(r.mean),
		KeptUp: true, Events: r.steps,
	}
	done := r.completions()[:n]
	for b, at := range done {
		submit := time.Duration(b+1) * c.BatchInterval
		if at < 0 {
			res.Processing = append(res.Processing, -1)
			res.KeptUp = false
			continue
		}
		p := at - submit
		res.Processing = append(res.Processing, secs(p))
		res.KeptUp = res.KeptUp && p <= c.BatchInterval
	}
	res.P50, res.P90, res.Max = quantiles(res.Processing)
	if r.failed {
		res.FailAt, res.Lost, res.RecTasks, res.Chains = secs(c.FailAt), r.lost, r.recTasks, r.chains
		res.RebuiltAt = -1
		if r.recoveryAt >= 0 {
			res.RebuiltAt = secs(r.recoveryAt - c.FailAt)
		}
	}
	return r.counters(res)
}

// recovered sets res.Recovery from ref, the processing times of the same
// run with a failure that loses no state (see Result.Recovery).
func recovered(res *Result, ref []float64) {
	res.Recovery = -1
	if res.RebuiltAt < 0 {
		return
	}
	until := res.RebuiltAt
	for b, p := range res.Processing {
		switch {
		case p < 0 || b >= len(ref) || ref[b] < 0:
			return // never completed: no comparison, no recovery
		case p > ref[b]+res.TaskTime:
			if b == len(res.Processing)-1 {
				return // still late
			}
			until = max(until, float64(b+1)*res.Interval+p-res.FailAt)
		}
	}
	res.Recovery = until
}

// counters adds what the scheduler counted to res.
func (r *run) counters(res Result) Result {
	cn := r.s.Status().Counters
	res.Backups, res.BackupsWon, res.Exclusions = cn.SpeculativeLaunched, cn.SpeculativeWon, cn.Exclusions
	return res
}

// completions returns each batch's completion time: in order, not before
// the lost state is rebuilt for batches not complete at the failure, nor
// before the standby processed its share of it (UpstreamBackup); -1 for
// batches that never completed.
func (r *run) completions() []time.Duration {
	out := make([]time.Duration, len(r.doneAt))
	var prev time.Duration
	for b, at := range r.doneAt {
		if at < 0 || prev < 0 {
			out[b], prev = -1, -1
			continue
		}
		at = max(at, prev)
		if r.shareAt[b] < 0 {
			at = -1 // the standby never processed its share
		} else if r.shareAt[b] > 0 {
			at = max(at, r.shareAt[b])
		}
		if at >= 0 && r.failed && at > r.cfg.FailAt {
			if r.recoveryAt < 0 {
				at = -1
			} else {
				at = max(at, r.recoveryAt)
			}
		}
		out[b], prev = at, at
	}
	return out
}

// quantiles returns the median, the 90th percentile and the maximum of
// the completed values (those ≥ 0), or -1s if none.
func quantiles(v []float64) (p50, p90, top float64) {
	s := slices.DeleteFunc(slices.Clone(v), func(x float64) bool { return x < 0 })
	if len(s) == 0 {
		return -1, -1, -1
	}
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.5), at(0.9), s[len(s)-1]
}
