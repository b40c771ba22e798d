package runtime

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// maxPreferDepth bounds the walk up narrow dependencies when looking for a
// partition's preferred workers.
const maxPreferDepth = 32

// submit splits a job's lineage into stages and hands it to the scheduler.
func (d *Driver) submit(j *job) {
	d.stats.Jobs++
	d.nextStage++
	rs := &stage{id: d.nextStage, ds: j.final, job: j}
	d.stages[rs.id] = rs
	stages := d.plan(rs)
	d.jobs[j.id] = j
	j.resultStage = rs.id
	j.started = time.Now()
	d.observeJob(j, false, nil)
	if err := d.sched.Step(scheduler.SubmitJob{Job: scheduler.Job{ID: j.id, Stages: stages}}); err != nil {
		d.endJob(j)
		j.reply <- jobResult{err: fmt.Errorf("runtime: job %d refused by the scheduler: %w", j.id, err)}
		return
	}
	d.performReady()
}

// plan splits the lineage of result stage rs into stages: the job's stages
// for the scheduler, parents first, the result stage last.
func (d *Driver) plan(rs *stage) []scheduler.Stage {
	b := &jobBuilder{d: d, seen: make(map[scheduler.StageID]bool)}
	parents := b.pipeline(rs)
	return append(b.order, scheduler.Stage{
		ID: rs.id, Parents: parents, NumTasks: rs.ds.NumParts, Result: true,
		Prefer: d.prefer(rs.ds), Pinned: rs.pinned,
	})
}

// replanJob plans job j again from its result (cached partitions its plan
// read may have been lost since) and gives the scheduler the new plan: the
// job keeps its result stage, its results and its running attempts, and
// retry, the attempt that found the plan short, runs again once the
// lineage it needs is computed (scheduler.ReplanJob). A plan the scheduler
// refuses fails the job.
func (d *Driver) replanJob(j *job, retry *scheduler.RunningTask) {
	stages := d.plan(d.stages[j.resultStage])
	if err := d.sched.Step(scheduler.ReplanJob{Job: scheduler.Job{ID: j.id, Stages: stages}, Retry: retry}); err != nil {
		d.step(scheduler.CancelJob{Job: j.id, Reason: fmt.Sprintf("runtime: a new plan of job %d refused by the scheduler: %v", j.id, err)})
		return
	}
	d.performReady()
}

type jobBuilder struct {
	d     *Driver
	seen  map[scheduler.StageID]bool
	order []scheduler.Stage
}

// pipeline walks the narrow lineage of st.ds, recording the shuffles it
// reads and the persisted datasets in it, and returns the parent stages.
// It does not walk above a persisted dataset whose partitions are all
// cached: those are read, not recomputed.
func (b *jobBuilder) pipeline(st *stage) []scheduler.StageID {
	st.reads, st.cached = st.reads[:0], st.cached[:0]
	st.cuts, st.cutsDone = nil, false
	st.pinned = false
	st.replicas = 0
	var parents []scheduler.StageID
	visited := make(map[*lineage.Dataset]bool)
	var walk func(ds *lineage.Dataset)
	walk = func(ds *lineage.Dataset) {
		if visited[ds] {
			return
		}
		visited[ds] = true
		if b.d.cfg.Pinned != nil && b.d.cfg.Pinned(ds) {
			st.pinned = true
		}
		if ds.Persisted() {
			st.cached = append(st.cached, ds)
			st.replicas = max(st.replicas, ds.Replicas)
			if b.d.allCached(ds) {
				return
			}
		}
		for _, dep := range ds.Dependencies() {
			if sd, ok := dep.(*lineage.ShuffleDep); ok {
				st.reads = append(st.reads, sd)
				parents = appendUnique(parents, b.mapStage(sd, ds))
				continue
			}
			walk(dep.Parent()) // narrow: OneToOne, Range, Broadcast
		}
	}
	walk(st.ds)
	return parents
}

func appendUnique(xs []scheduler.StageID, x scheduler.StageID) []scheduler.StageID {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// mapStage returns the stage that writes a shuffle, adding it (and its
// parents, first) to the job being built.
func (b *jobBuilder) mapStage(dep *lineage.ShuffleDep, child *lineage.Dataset) scheduler.StageID {
	d := b.d
	sid, ok := d.byShuffle[dep.ID]
	if !ok {
		d.nextStage++
		sid = d.nextStage
		d.byShuffle[dep.ID] = sid
		d.stages[sid] = &stage{id: sid, ds: dep.P, shuffle: dep}
	}
	if b.seen[sid] {
		return sid
	}
	b.seen[sid] = true
	st := d.stages[sid]
	// A stage reached again through a built one's reads comes without its
	// child: the first job's is the same dataset.
	if child == nil {
		child = st.child
	} else if st.child == nil {
		st.child = child
	}
	// A map stage keeps the parents of its first job: jobs sharing it must
	// agree on its shape, even if caching made part of its pipeline
	// readable since (its tasks read cached partitions all the same).
	if !st.built {
		st.parents, st.built = b.pipeline(st), true
		// A map task resolves the shuffle's child too (its dependency
		// buckets the output).
		if d.cfg.Pinned != nil && child != nil && d.cfg.Pinned(child) {
			st.pinned = true
		}
	} else {
		st.cuts, st.cutsDone = nil, false
		for _, r := range st.reads {
			b.mapStage(r, nil) // its child is known if it was built (see above)
		}
	}
	parents := st.parents
	b.order = append(b.order, scheduler.Stage{
		ID: sid, Parents: parents, NumTasks: dep.P.NumParts,
		Available: d.available(dep), Prefer: d.prefer(dep.P), Pinned: st.pinned,
	})
	return sid
}

func (d *Driver) available(dep *lineage.ShuffleDep) []scheduler.WorkerID {
	locs := d.mapOut[dep.ID]
	if locs == nil {
		return nil
	}
	av := make([]scheduler.WorkerID, len(locs))
	for p, w := range locs {
		av[p] = scheduler.WorkerID(w)
	}
	return av
}

func (d *Driver) allCached(ds *lineage.Dataset) bool {
	for p := 0; p < ds.NumParts; p++ {
		if len(d.blocks[blockstore.ID{Dataset: ds.ID, Part: p}]) == 0 {
			return false
		}
	}
	return true
}

// prefer lists, per partition, the workers where its inputs live.
func (d *Driver) prefer(ds *lineage.Dataset) [][]scheduler.WorkerID {
	var out [][]scheduler.WorkerID
	for p := 0; p < ds.NumParts; p++ {
		locs := d.preferPart(ds, p, 0)
		if len(locs) == 0 {
			continue
		}
		if out == nil {
			out = make([][]scheduler.WorkerID, ds.NumParts)
		}
		for _, w := range locs {
			if _, live := d.workers[w]; live {
				out[p] = append(out[p], scheduler.WorkerID(w))
			}
		}
	}
	return out
}

func (d *Driver) preferPart(ds *lineage.Dataset, p, depth int) []string {
	if depth > maxPreferDepth {
		return nil
	}
	if ds.Persisted() {
		if locs := d.blocks[blockstore.ID{Dataset: ds.ID, Part: p}]; len(locs) > 0 {
			return locs
		}
	}
	if ds.Prefer != nil {
		if locs := ds.Prefer(p); len(locs) > 0 {
			return locs
		}
	}
	for _, dep := range ds.Dependencies() {
		switch dep := dep.(type) {
		case lineage.OneToOne:
			if locs := d.preferPart(dep.P, p, depth+1); len(locs) > 0 {
				return locs
			}
		case lineage.Range:
			if p >= dep.Offset && p < dep.Offset+dep.P.NumParts {
				return d.preferPart(dep.P, p-dep.Offset, depth+1)
			}
		case lineage.Broadcast:
			// Every child partition reads all of it: it prefers none.
		}
	}
	return nil
}
