package sim

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func mustRun(t *testing.T, c Config) Result {
	t.Helper()
	res, err := Run(c)
	if err != nil {
		t.Fatalf("run %+v: %v", c, err)
	}
	return res
}

func TestDeterministic(t *testing.T) {
	for _, c := range []Config{
		{Seed: 7, Batches: 15},
		{Seed: 7, Batches: 20, FailAt: 12500 * time.Millisecond, CheckpointEvery: 5},
		{Seed: 7, Batches: 20, FailAt: 12500 * time.Millisecond, CheckpointEvery: 5, Model: UpstreamBackup},
		{Seed: 7, Batches: 15, Stragglers: 2, Speculation: true},
	} {
		a, b := mustRun(t, c), mustRun(t, c)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two runs of %+v differ:\n%+v\n%+v", c.Seed, c, a, b)
		}
		c.Seed++
		if d := mustRun(t, c); reflect.DeepEqual(a.Processing, d.Processing) {
			t.Errorf("seeds %d and %d gave the same processing times", c.Seed-1, c.Seed)
		}
	}
}

func TestKeepsUpWithoutFailure(t *testing.T) {
	for _, load := range []float64{0.1, 0.3, 0.5, 0.7} {
		for _, nodes := range []int{1, 5, 20} {
			for seed := range int64(3) {
				res := mustRun(t, Config{Seed: seed, Nodes: nodes, Load: load, Batches: 20})
				if !res.KeptUp || res.Max > 1 {
					t.Errorf("seed %d, %d nodes, load %.1f: did not keep up (max %.3fs): %v",
						seed, nodes, load, res.Max, res.Processing)
				}
				if res.Processing[0] < load/2 {
					t.Errorf("seed %d, %d nodes, load %.1f: batch took %.3fs, less than its work allows",
						seed, nodes, load, res.Processing[0])
				}
			}
		}
	}
}

// recoverySweep is the small sweep of the report: recovery time against
// cluster size at a fixed load per node, for both models.
func recoverySweep(t *testing.T) (par, up []Result) {
	t.Helper()
	nodes := []int{5, 10, 20, 40}
	loads := []float64{0.5}
	base := Config{Seed: 1, CheckpointEvery: 10}
	par, err := Recovery(base, nodes, loads, Parallel)
	if err != nil {
		t.Fatal(err)
	}
	up, err = Recovery(base, nodes, loads, UpstreamBackup)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(clone(par), up...) {
		t.Logf("%-15s nodes %3d load %.1f: lost %d batches, %4d recovery tasks, state rebuilt after %.3fs, recovered after %.3fs (p50 %.3fs, max %.3fs)",
			r.Model, r.Nodes, r.Load, r.Lost, r.RecTasks, r.RebuiltAt, r.Recovery, r.P50, r.Max)
	}
	return par, up
}

func clone(r []Result) []Result { return append([]Result(nil), r...) }

func TestRecoveryScales(t *testing.T) {
	par, up := recoverySweep(t)
	for i, r := range append(clone(par), up...) {
		if r.Recovery <= 0 || r.RebuiltAt < 0 || r.Lost == 0 {
			t.Fatalf("run %d: no recovery measured: %+v", i, r)
		}
	}
	// More nodes share the map side and the catching up, never the
	// chains of reduce steps: parallel recovery gets faster, then flat.
	for i := 1; i < len(par); i++ {
		if par[i].Recovery > par[i-1].Recovery {
			t.Errorf("parallel recovery got slower from %d to %d nodes: %.3fs then %.3fs",
				par[i-1].Nodes, par[i].Nodes, par[i-1].Recovery, par[i].Recovery)
		}
	}
	if first, last := par[0], par[len(par)-1]; last.Recovery >= first.Recovery {
		t.Errorf("parallel recovery no faster on %d nodes (%.3fs) than on %d (%.3fs)",
			last.Nodes, last.Recovery, first.Nodes, first.Recovery)
	}
	// Upstream backup replays one node's work on one node: more nodes
	// do not help (within 10%), and it is slower than parallel recovery.
	for i := range up {
		if up[i].Recovery < 0.9*up[0].Recovery {
			t.Errorf("upstream backup recovered faster with %d nodes (%.3fs) than with %d (%.3fs)",
				up[i].Nodes, up[i].Recovery, up[0].Nodes, up[0].Recovery)
		}
		if up[i].Recovery <= par[i].Recovery {
			t.Errorf("%d nodes: upstream backup (%.3fs) no slower than parallel recovery (%.3fs)",
				up[i].Nodes, up[i].Recovery, par[i].Recovery)
		}
	}
	if b, err := json.Marshal(par[0]); err != nil || len(b) == 0 {
		t.Fatalf("result does not marshal: %v", err)
	}
}

func TestSpeculationBeatsStraggler(t *testing.T) {
	res, err := Stragglers(Config{Seed: 3, Nodes: 20, Batches: 20, StragglerSlowdown: 4}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	off, on := res[0], res[1]
	t.Logf("one 4x straggler of 20 nodes: p50 %.3fs without speculation, %.3fs with (%d backups, %d won, %d exclusions)",
		off.P50, on.P50, on.Backups, on.BackupsWon, on.Exclusions)
	if on.P50 >= off.P50 {
		t.Errorf("speculation did not lower p50: %.3fs on, %.3fs off", on.P50, off.P50)
	}
	if off.Backups != 0 || on.Backups == 0 {
		t.Errorf("backups: %d without speculation, %d with", off.Backups, on.Backups)
	}
}

// A thousand nodes is only a bigger simulation: it must stay quick. (No
// wall-clock assertion, STYLE 13: go test's timeout is the bound.)
func TestThousandNodes(t *testing.T) {
	res := mustRun(t, Config{Seed: 1, Nodes: 1000, Batches: 5, Load: 0.3, TaskTime: 200 * time.Millisecond,
		FailAt: 3500 * time.Millisecond, CheckpointEvery: 10})
	t.Logf("1000 nodes: %d tasks per batch, %d events, p50 %.3fs, recovery %.3fs", res.TasksPerBatch, res.Events, res.P50, res.Recovery)
	if res.Recovery <= 0 || res.P50 <= 0 {
		t.Fatalf("no result: %+v", res)
	}
}

// Overloaded, the cluster falls behind: the run still ends, and says so.
func TestOverloadEnds(t *testing.T) {
	res := mustRun(t, Config{Seed: 1, Load: 1.5, Batches: 10})
	if res.KeptUp || res.Max <= 1 {
		t.Fatalf("load 1.5 kept up: %+v", res)
	}
	t.Logf("load 1.5: processing %v", res.Processing)
}

// TestRecoveryByLoad logs recovery against load for both models (the
// shape of the D-Streams paper's recovery figure), and checks that
// parallel recovery is the faster.
func TestRecoveryByLoad(t *testing.T) {
	loads := []float64{0.3, 0.5, 0.7}
	byModel := map[Model][]Result{}
	for _, m := range []Model{Parallel, UpstreamBackup} {
		res, err := Recovery(Config{Seed: 2}, []int{20}, loads, m)
		if err != nil {
			t.Fatal(err)
		}
		byModel[m] = res
		for _, r := range res {
			t.Logf("%-15s nodes %d load %.1f: lost %d batches, rebuilt after %.3fs, recovered after %.3fs",
				r.Model, r.Nodes, r.Load, r.Lost, r.RebuiltAt, r.Recovery)
			if r.Recovery <= 0 {
				t.Errorf("%s load %.1f: did not recover", m, r.Load)
			}
		}
	}
	for i, l := range loads {
		if p, u := byModel[Parallel][i].Recovery, byModel[UpstreamBackup][i].Recovery; p >= u {
			t.Errorf("load %.1f: parallel recovery %.3fs, upstream backup %.3fs", l, p, u)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, c := range []Config{
		{Nodes: -1}, {Load: -0.5}, {Stragglers: 10}, {Model: "nope"}, {Nodes: 1, FailAt: time.Second},
	} {
		if _, err := Run(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
	}
}

// TestUpstreamBackupExplodes checks the D-Streams paper's analysis of
// upstream backup: the standby replays the W batches of work lost while
// new work keeps coming at load λ, so it catches up after about
// Wλ/(1−λ) intervals, whatever the cluster size; parallel recovery on 50
// nodes takes its chains of reduce steps (a task time per lost batch) and
// little more, at either load. Five nodes cannot recover in parallel at
// load 0.9: the four left would need 112% of their capacity.
func TestUpstreamBackupExplodes(t *testing.T) {
	loads := []float64{0.5, 0.9}
	up, err := Recovery(Config{Seed: 4}, []int{10}, loads, UpstreamBackup)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range up {
		want := float64(r.Lost) * r.Load / (1 - r.Load)
		t.Logf("upstream backup, load %.1f: %d batches lost, recovered after %.1fs (analysis: %.1fs)", r.Load, r.Lost, r.Recovery, want)
		if r.Recovery < 0.8*want || r.Recovery > 1.3*want+2 {
			t.Errorf("load %.1f: upstream backup recovered after %.1fs, the analysis says %.1fs", r.Load, r.Recovery, want)
		}
	}
	par, err := Recovery(Config{Seed: 4}, []int{50}, loads, Parallel)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range par {
		chain := float64(r.Lost) * r.TaskTime
		t.Logf("parallel recovery on 50 nodes, load %.1f: recovered after %.2fs (chains of %d steps: %.2fs)", r.Load, r.Recovery, r.Lost, chain)
		if r.Recovery < 0 || r.Recovery > chain+0.5 {
			t.Errorf("parallel recovery on 50 nodes at load %.1f: %.2fs, its chains take %.2fs", r.Load, r.Recovery, chain)
		}
	}
	small, err := Recovery(Config{Seed: 4}, []int{5}, []float64{0.9}, Parallel)
	if err != nil {
		t.Fatal(err)
	}
	if small[0].Recovery != -1 {
		t.Errorf("5 nodes at load 0.9 recovered in parallel after %.1fs: the 4 left are overloaded", small[0].Recovery)
	}
}

// TestParallelRecoveryChains checks that parallel recovery rebuilds each
// lost state partition as a chain: its reduce step of batch b reads its
// state of batch b−1, so however many nodes share the work, the rebuild
// takes at least Lost reduce task times (rebuilding every partition of
// every lost batch at once, as independent tasks, took one or two task
// times on 100 or more nodes); and on a large cluster little more than
// that, with one wave of map tasks before the chains.
func TestParallelRecoveryChains(t *testing.T) {
	res, err := Recovery(Config{Seed: 5}, []int{10, 100}, []float64{0.2, 0.6}, Parallel)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		chain := float64(r.Lost) * r.TaskTime
		t.Logf("%d nodes, load %.1f: %d batches lost, %d recovery tasks (%d chains), state rebuilt after %.3fs (chain %.3fs), recovered after %.3fs",
			r.Nodes, r.Load, r.Lost, r.RecTasks, r.Chains, r.RebuiltAt, chain, r.Recovery)
		if r.Lost < 2 || r.Chains < 1 || r.RecTasks <= r.Chains {
			t.Fatalf("%d nodes, load %.1f: no chained recovery: %+v", r.Nodes, r.Load, r)
		}
		if r.RebuiltAt < 0.9*chain || r.Recovery < r.RebuiltAt {
			t.Errorf("%d nodes, load %.1f: state rebuilt after %.3fs, recovered after %.3fs, but a chain of %d reduce steps takes about %.3fs",
				r.Nodes, r.Load, r.RebuiltAt, r.Recovery, r.Lost, chain)
		}
		// Waiting for slots the running batch holds, a wave of map
		// tasks, then the longest of the chains.
		if r.Nodes >= 100 && r.RebuiltAt > 1.2*chain+3*r.TaskTime {
			t.Errorf("%d nodes, load %.1f: state rebuilt after %.3fs, more than a wave of map tasks and a chain of %d reduce steps (%.3fs)",
				r.Nodes, r.Load, r.RebuiltAt, r.Lost, chain)
		}
	}
}
