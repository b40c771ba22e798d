// Package scheduler is the driver's scheduling core: a deterministic state
// machine in the manner of etcd's raft.RawNode. Events go in through Step
// (a tick, a job submitted or cancelled, a task finished or failed, a
// worker joined, draining or lost); actions come out of Ready (launch a task, cancel
// a task, a job is done or failed). It starts no goroutines, reads no clock,
// does no I/O and uses no randomness: the same events always produce the
// same actions, which is what lets scenario tests script failures exactly
// and lets the simulator run it with thousands of virtual workers. It is a
// leaf package: it imports nothing but the standard library.
//
// # What it decides
//
// A job is a DAG of stages; a stage is one task per partition. A stage runs
// when all its parent stages' outputs are available, and only the
// partitions whose output is missing run. Shuffle-map stages are shared by
// ID between concurrent jobs. Free slots go to the lowest job ID first,
// then to the job's stages in order, then to partitions in order — those
// whose preferred worker has a free slot first. A task goes to a preferred
// worker with a free slot if it has one (waiting up to
// Config.LocalityWait for one), else to the worker with the most free
// slots, so that recomputing lost partitions spreads over every worker.
// Failed attempts are retried up to Config.MaxTaskFailures; a lost worker's
// attempts are relaunched and its map outputs recomputed; a fetch failure
// marks the unreadable output missing and reruns it (every output of the
// worker, rerun elsewhere, when the worker could not be reached at all:
// FetchFailure.Unreachable). A job may be given a new plan (ReplanJob)
// when a task finds that it needs a parent stage the plan left out; the
// job keeps its results and running attempts. Every attempt carries
// an attempt number and Config.Epoch, and reports naming any other attempt
// are ignored (fencing).
//
// Speculative execution (unless Config.NoSpeculation): once
// Config.SpeculationQuantile (0.75) of a stage's partitions have finished
// — outputs current and produced by attempts the scheduler timed, from
// launch to finish in Tick time — an attempt that has run longer than
// Config.SpeculationMultiplier (1.5) times the median duration of those,
// and at least Config.SpeculationMinDuration (100ms), gets one backup copy
// (Task.Speculative, a new attempt number) on another live worker that is
// not excluded: a preferred one if it can, else the one with the most free
// slots. Backups take only the slots that pending tasks of every job left
// free, and are looked for at the end of every Step (so on every Tick and
// after every finish). A partition runs at most two attempts, never on
// one worker. The first to finish wins; the other is cancelled and its
// reports are ignored from then on. If one copy fails or is lost with its
// worker, the other runs on alone; the partition is relaunched only when
// no copy runs. A failed copy counts toward MaxTaskFailures as any.
//
// Exclusion (unless Config.NoExclusion): a worker with Config.ExcludeAfter
// (3) strikes within Config.ExcludeFor (30s) — task failures, not fetch
// failures or its loss, and straggles: attempts of it beaten by their
// backup — is excluded for ExcludeFor. It gets no new task while a worker
// that is not excluded could run it (but tasks still run on excluded
// workers when no other could: exclusion never stalls a job) and no
// backup at all; its running attempts go on. The first Tick at or after
// the end readmits it. Status shows exclusions and counts backups
// launched, won and wasted.
//
// Draining (DrainWorker): a worker that is to leave gets no new task,
// normal or speculative, and is no locality preference, while its running
// attempts finish; Status shows it draining. The runtime moves what it
// holds, then removes it with WorkerLost. When every worker drains, tasks
// wait for a new one.
//
// # Use
//
// One goroutine of the runtime owns the Scheduler: it feeds events and
// carries out actions, in order.
//
//	s := scheduler.New(scheduler.Config{Epoch: epoch, LocalityWait: 3 * time.Second})
//	for {
//		var ev scheduler.Event
//		select {
//		case <-ctx.Done():
//			return
//		case now := <-ticker.C:
//			ev = scheduler.Tick{Now: now.Sub(start)}
//		case ev = <-events: // membership, task reports, submitted jobs
//		}
//		if err := s.Step(ev); err != nil {
//			log.Warn("scheduler rejected an event", "err", err) // nothing changed
//		}
//		for _, a := range s.Ready() {
//			switch a := a.(type) {
//			case scheduler.Launch:
//				transport.Launch(a.Worker, a.Task)
//			case scheduler.Cancel:
//				transport.Cancel(a.Worker, a.Task)
//			case scheduler.JobDone:
//				jobs.Done(a.Job)
//			case scheduler.JobFailed:
//				jobs.Failed(a.Job, a.Reason)
//			}
//		}
//	}
//
// Tick regularly (every 100ms, say): speculation measures durations in
// Tick time, and exclusions end on a Tick.
//
// A Launch of a backup (Task.Speculative) is run like any other; a Cancel
// is final: whatever the attempt produced, if it finishes anyway, is
// discarded (for a speculative race, the winner's output is the one the
// scheduler took). Reports carry the Task exactly as launched.
//
// Status returns a snapshot (workers and their exclusions, active jobs,
// running attempts, counters) for the web UI, metrics and tests.
package scheduler
