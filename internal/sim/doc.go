// Package sim is a discrete-event simulator that runs the real scheduler
// (internal/scheduler) with virtual workers, a virtual clock and a cost
// model, to study recovery and stragglers on clusters far larger than a
// test can start. It starts no goroutines, reads no clock and draws every
// random number from Config.Seed: the same Config always gives the same
// Result.
//
// A run submits one job per batch at its batch time: a map stage and a
// reduce stage (the state update), each a share of the batch's work (see
// Config.Load). Launch actions schedule a finish event at now+duration on
// that worker; events are fed to the scheduler in time order from a heap,
// each preceded by a Tick to its time, with periodic Ticks in between so
// that speculation sees stragglers. A node failure (Config.FailAt) feeds
// WorkerLost, then rebuilds the state the node held since the last
// checkpoint, as Config.Model says: the lost batches' map tasks over
// every node left, then one task per lost state partition that runs its
// chain of reduce steps, batch after batch (Parallel), or one serial
// replay on an idle standby node that then takes the failed node's share
// of every batch, one batch at a time (UpstreamBackup, as the D-Streams
// paper analyses it). The recovery time is measured against the same run
// with a failure that loses no state, so it counts what the lost state
// costs (Result.Recovery).
//
//	res, err := sim.Run(sim.Config{Nodes: 100, Load: 0.5, FailAt: 15 * time.Second})
//	fmt.Println(res.P50, res.Recovery)
//
// Recovery and Stragglers run sweeps and return results ready for JSON.
package sim
