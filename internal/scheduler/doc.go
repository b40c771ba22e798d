// Package scheduler is the driver's scheduling core: a deterministic state
// machine in the manner of etcd's raft.RawNode. Events go in through Step
// (a tick, a job submitted or cancelled, a task finished or failed, a
// worker joined or lost); actions come out of Ready (launch a task, cancel
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
// Status returns a snapshot (workers, active jobs, running attempts) for
// the web UI and for tests.
//
// # Not yet
//
// Speculative execution: Task.Speculative exists, but the scheduler never
// launches a backup copy yet. It will plug in where the scheduler keeps a
// partition's single running attempt (type attempt), driven by Tick.
package scheduler
