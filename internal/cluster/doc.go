// Package cluster puts the engine on processes and a network: the
// driver's side (Driver) accepts workers, checks their fingerprint, sends
// them the runtime driver's commands and delivers their results; the
// worker's side (Worker) runs tasks with a runtime.Worker, serves its
// shuffle outputs and blocks to other workers, and fetches theirs.
// Processes starts and supervises local-cluster's worker processes.
//
// # Use
//
//	drv, err := cluster.NewDriver(cluster.DriverConfig{Security: sec, Fingerprint: fp, Plans: plans, Graph: g})
//	defer drv.Close()
//	drv.WaitWorkers(ctx, n)
//	drv.SetFirst(firstBatch)            // then run jobs with drv.Runtime.RunJob
//
//	w, err := cluster.NewWorker(cluster.WorkerConfig{Driver: addr, Security: sec, Fingerprint: fp, Graph: g})
//	defer w.Close()
//	err = w.Run(ctx)                    // until the driver says stop
//
// # Protocol
//
// A worker opens one bidirectional Session stream to the driver: a hello
// (name, address, slots, fingerprint), then heartbeats (every 250 ms by
// default) and task results; the driver answers with a welcome or a
// refusal that says what differs, then commands: launch, cancel, free,
// the peers' addresses and the first batch time. A broken stream or
// WorkerTimeout (2 s by default) without a message declares the worker
// lost. Plan serves an input's plan of a batch (workers rebuild the
// input's datasets from it); Job gives a standalone worker the job's
// arguments. Workers serve Fetch: all the buckets of one reduce partition
// that a worker holds, or one block, in one stream of chunks of at most
// 4 MiB, so a reduce task makes one call per worker it reads from.
// A worker leaves by asking to be drained (Worker.Drain, on SIGTERM in
// a worker process): a Drain message on its session; the driver
// (Driver.Drain, runtime.Driver.DrainWorker) gives it no new task, has it
// copy the blocks only it holds to other workers (CopyBlocks, which
// pushes them with PutBlock), waits for the batch in flight, then sends
// Stop: Run returns nil and the process exits 0, which Processes does not
// replace. Until then it serves fetches and block reads as usual.
// Messages are CBOR (internal/rpc); every field a peer sends is checked
// before use, and every decoder has a fuzz target.
//
// Datasets are never sent: a task names a dataset by ID, and the worker
// resolves it in its own copy of the graph (Graph), which the fingerprint
// guarantees to be the driver's. Stages of datasets only the driver can
// build (made at run time by driver-side code) run on the driver's own
// executor, a runtime.Worker in its process reserved for them.
//
// # Failure points (a testing aid)
//
// Failure tests need a real worker process to die at an exact point, not
// whenever a timer fires. A worker process whose environment sets
// SLUICE_TEST_DIE (DieEnv) sends itself SIGKILL there: the value is a
// comma-separated list of POINT:N[@WORKER] rules, and the worker dies the
// N-th time it reaches POINT:
//
//	map         running its N-th shuffle-map task (just launched)
//	fetch       serving its N-th shuffle fetch, before answering
//	checkpoint  writing its N-th state checkpoint partition (encoded, not
//	            yet in the store; the root package calls Worker.FailurePoint)
//
// With @WORKER only the worker registered under that name dies; without
// it, every worker process that reads the variable does. Local-cluster
// workers inherit the driver's environment and are named worker-0,
// worker-1, …; a replacement takes the next index, so it does not die
// again. For example, a test that sets
//
//	SLUICE_TEST_DIE=map:5@worker-1,fetch:1@worker-2
//
// before starting local-cluster[3] loses worker-1 in its fifth map task
// and worker-2 in the first fetch it serves. Before dying the worker
// writes "cluster: SLUICE_TEST_DIE: worker-1 dies at map 5" to standard
// error, which local-cluster reports with the process's exit. NewWorker
// refuses a malformed value. Nothing reads the variable in the driver's
// process, and programs never set it.
//
// # Goroutines
//
// Driver: the gRPC server; per worker session, the handler, its receiver
// and its sender; one monitor of heartbeats; the executor's task
// goroutines. Worker: the gRPC server, Run's receiver and sender, one
// goroutine per running task. Processes: one waiter per worker process.
// Every one is stopped by Close (or Stop) and waited for.
//
// # Dependencies
//
// gRPC through internal/rpc (see its doc for why). Process supervision
// uses os/exec with Pdeathsig on Linux, so a killed driver's workers die
// with it; workers also exit when their session breaks.
package cluster
