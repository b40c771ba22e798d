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
// checkpoint, as Config.Model says: many small tasks over every node
// (Parallel) or one serial replay on one node (UpstreamBackup).
//
//	res, err := sim.Run(sim.Config{Nodes: 100, Load: 0.5, FailAt: 15 * time.Second})
//	fmt.Println(res.P50, res.Recovery)
//
// Recovery and Stragglers run sweeps and return results ready for JSON.
package sim
