package sluice_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// The examples of this file are about running a job on a cluster and
// watching it. Those that would start worker processes or listen on a
// fixed port have no Output comment: they are compiled, not run.

// quiet is a logger for the examples that serve HTTP, whose start-up
// message would otherwise go to standard error.
var quiet = sluice.Logger(slog.New(slog.DiscardHandler))

// httpGet returns the body of http://addr/path, failing on any status but
// 200. The client has a timeout so that a hung server fails the example.
func httpGet(addr, path string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(body), nil
}

// HTTP serves the driver's JSON status at /status and its Prometheus
// metrics at /metrics; "127.0.0.1:0" picks a free port, which HTTPAddr
// tells once the job started.
func ExampleHTTP() {
	j := newExampleJob(sluice.HTTP("127.0.0.1:0"), quiet)
	defer j.stop()
	words := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"a", "b", "c"}, []string{"d"}), 1)
	sluice.ForeachBatch(words, func(context.Context, sluice.Dataset[string], time.Time) error { return nil })
	if err := j.run(2); err != nil {
		return
	}

	body, err := httpGet(j.HTTPAddr(), "/status")
	if err != nil {
		fmt.Println(err)
		return
	}
	var st sluice.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("master:", st.Master)
	for _, b := range st.Batches {
		fmt.Printf("batch at %ds: %d records\n", b.Time.Unix(), b.InputRecords)
	}

	metrics, err := httpGet(j.HTTPAddr(), "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "sluice_batches_total ") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// master: local[2]
	// batch at 1s: 3 records
	// batch at 2s: 1 records
	// sluice_batches_total 2
}

// HTTPAddr is empty until the job starts; then it is the address the
// HTTP option's port 0 was given.
func ExampleContext_HTTPAddr() {
	sc, err := sluice.NewContext(sluice.Master("local[2]"), sluice.HTTP("127.0.0.1:0"), quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	sluice.ForeachBatch(sluice.QueueStream(sc, sluice.NewQueue[int](), 1),
		func(context.Context, sluice.Dataset[int], time.Time) error { return nil })
	fmt.Printf("before Start: %q\n", sc.HTTPAddr())
	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	host, port, err := net.SplitHostPort(sc.HTTPAddr())
	fmt.Println("after Start:", host, port != "0", err)
	// Output:
	// before Start: ""
	// after Start: 127.0.0.1 true <nil>
}

// Status is what /status serves: the master, the recent batches (with
// the HTTP option), the workers and the running tasks.
func ExampleStatus() {
	j := newExampleJob(sluice.HTTP("127.0.0.1:0"), quiet)
	defer j.stop()
	nums := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1, 2, 3, 4}), 2)
	sluice.ForeachBatch(nums, func(context.Context, sluice.Dataset[int], time.Time) error { return nil })
	if err := j.run(1); err != nil {
		return
	}
	st := j.Status()
	fmt.Println(st.Master, st.BatchMS, len(st.Batches), st.Batches[0].InputRecords, len(st.Running))
	// Output: local[2] 1000 1 4 0
}

// Status can be read at any time, before Start too; the recent batches
// are kept only with the HTTP option, so this job sets it.
func ExampleContext_Status() {
	j := newExampleJob(sluice.HTTP("127.0.0.1:0"), quiet)
	defer j.stop()
	sluice.ForeachBatch(sluice.QueueStream(j.Context, sluice.NewQueue([]int{1}, []int{2, 3}), 1),
		func(context.Context, sluice.Dataset[int], time.Time) error { return nil })
	if err := j.run(3); err != nil {
		return
	}
	st := j.Status()
	fmt.Println("batches:", len(st.Batches))
	fmt.Println("workers:", len(st.Workers))
	// Output:
	// batches: 3
	// workers: 2
}

// WorkerStatus describes one worker: in local mode, a worker of this
// process with one task slot; on a cluster, a process with its address,
// PID and metrics endpoint too.
func ExampleWorkerStatus() {
	sc, err := sluice.NewContext(sluice.Master("local[2]"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	for _, w := range sc.Status().Workers {
		fmt.Printf("%s: %d slot(s), %d running\n", w.Name, w.Slots, w.Running)
	}
	// Output:
	// local-0: 1 slot(s), 0 running
	// local-1: 1 slot(s), 0 running
}

// TaskStatus names a running task attempt and the worker it runs on.
// Here a task is held until its status has been read.
func ExampleTaskStatus() {
	j := newExampleJob(sluice.Master("local"))
	defer j.stop()
	running, release := make(chan struct{}), make(chan struct{})
	nums := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1}), 1)
	held := sluice.Map(nums, func(n int) int {
		close(running)
		<-release
		return n
	})
	sluice.ForeachBatch(held, func(ctx context.Context, d sluice.Dataset[int], _ time.Time) error {
		_, err := d.Collect(ctx)
		return err
	})
	if err := j.start(); err != nil {
		return
	}
	j.clock.Advance(j.BatchInterval())
	<-running
	for _, t := range j.Status().Running {
		fmt.Printf("partition %d, attempt %d, on %s\n", t.Partition, t.Attempt, t.Worker)
	}
	close(release)
	<-j.infos
	fmt.Println("running after the batch:", len(j.Status().Running))
	// Output:
	// partition 0, attempt 0, on local-0
	// running after the batch: 0
}

// Parallelism is the number of workers unless the Parallelism option
// says otherwise.
func ExampleContext_Parallelism() {
	for _, opts := range [][]sluice.Option{
		{sluice.Master("local[3]")},
		{sluice.Master("local[3]"), sluice.Parallelism(8)},
	} {
		sc, err := sluice.NewContext(opts...)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(sc.Parallelism())
		sc.Stop()
	}
	// Output:
	// 3
	// 8
}

// Master returns the master the context was made with, "local[*]" by
// default.
func ExampleContext_Master() {
	for _, opts := range [][]sluice.Option{nil, {sluice.Master("local[2]")}} {
		sc, err := sluice.NewContext(opts...)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(sc.Master())
		sc.Stop()
	}
	// Output:
	// local[*]
	// local[2]
}

// Secret refuses a secret shorter than 16 bytes; `openssl rand -hex 32`
// makes a good one.
func ExampleSecret() {
	_, err := sluice.NewContext(sluice.Master("standalone[2]"), sluice.Secret([]byte("short")))
	fmt.Println(err)
	// Output: sluice: a cluster secret needs at least 16 bytes, got 5
}

// IsWorker is false in the driver (and in a program that runs no
// cluster), true in the worker processes a local-cluster starts.
func ExampleIsWorker() {
	fmt.Println(sluice.IsWorker())
	// Output: false
}

// Listen sets where a standalone driver accepts its workers: here every
// interface, with the cluster secret read from a file in hex. Start waits
// until two workers joined (`PROGRAM worker --driver HOST:7077`). Not run:
// it listens on a fixed port.
func ExampleListen() {
	b, err := os.ReadFile("/etc/sluice/secret")
	if err != nil {
		log.Fatal(err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		log.Fatal(err)
	}
	sc, err := sluice.NewContext(sluice.Master("standalone[2]"), sluice.Listen("0.0.0.0:7077"), sluice.Secret(secret))
	if err != nil {
		log.Fatal(err)
	}
	sluice.Print(sluice.SocketText(sc, "localhost:9999"), 10)
	if err := sluice.RunUntilDone(context.Background(), sc, 0); err != nil {
		log.Fatal(err)
	}
}

// Plaintext runs a standalone cluster without TLS, for development on one
// machine. Start the worker with `PROGRAM worker --driver 127.0.0.1:7077
// --plaintext`. Not run: it waits for a worker.
func ExamplePlaintext() {
	sluice.Main(func(c *sluice.Context) {
		sluice.Print(sluice.SocketText(c, "localhost:9999"), 10)
	}, sluice.Master("standalone[1]"), sluice.Listen("127.0.0.1:7077"), sluice.Plaintext())
}

// RunWorker joins a standalone driver from a program with a command line
// of its own (sluice.Main does this for `PROGRAM worker --driver ADDR`).
// The secret is $SLUICE_SECRET. It returns only on error: on success the
// process becomes the job's worker. Not run: it needs a driver.
func ExampleRunWorker() {
	driver := os.Getenv("JOB_DRIVER") // e.g. driver.internal:7077
	if driver != "" {
		err := sluice.RunWorker(context.Background(), driver)
		log.Fatalf("joining %s: %v", driver, err)
	}
	// ... otherwise run the driver.
}

// WorkerMain is the `worker` subcommand of a program that has several:
// it parses --driver, --secret-file and --plaintext. Not run: it needs a
// driver.
func ExampleWorkerMain() {
	if len(os.Args) < 2 {
		log.Fatal("usage: job run|worker [flags]")
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "worker": // job worker --driver HOST:PORT
		err = sluice.WorkerMain(context.Background(), args)
	case "run":
		err = sluice.Run(context.Background(), args, func(c *sluice.Context) {
			sluice.Print(sluice.SocketText(c, "localhost:9999"), 10)
		})
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// WorkerArgs and WorkerKey let a test run its job on worker processes
// started from the test binary: the workers run only this test, and serve
// only this test's context. (sluicetest.New does this under
// SLUICE_TEST_MASTER.) Not run: it starts worker processes.
func ExampleWorkerArgs() {
	newClusterContext := func(t testing.TB, opts ...sluice.Option) *sluice.Context {
		t.Helper()
		opts = append(opts, sluice.Master("local-cluster[2]"),
			sluice.WorkerArgs("-test.run=^"+t.Name()+"$"), sluice.WorkerKey(t.Name()))
		sc, err := sluice.NewContext(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sc.Stop() })
		return sc
	}
	_ = newClusterContext // called from a test as newClusterContext(t)
}

// WorkerKey tells apart the contexts of a program that builds several,
// like a test that checks a job gives the same result on worker processes
// as in this one: the workers serve the context with the driver's key and
// build the others in-process. Not run: it starts worker processes.
func ExampleWorkerKey() {
	checkOnCluster := func(t *testing.T, build func(*sluice.Context)) {
		onCluster, err := sluice.NewContext(sluice.Master("local-cluster[2]"),
			sluice.WorkerArgs("-test.run=^"+t.Name()+"$"), sluice.WorkerKey(t.Name()+"/cluster"))
		if err != nil {
			t.Fatal(err)
		}
		inProcess, err := sluice.NewContext(sluice.Master("local[2]")) // in-process in the workers too
		if err != nil {
			t.Fatal(err)
		}
		build(onCluster)
		build(inProcess)
		// The cluster job runs first: a worker process exits once it has
		// served it, so it never runs the in-process job.
		for _, sc := range []*sluice.Context{onCluster, inProcess} {
			if err := sluice.RunUntilDone(context.Background(), sc, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = checkOnCluster // called from a test; build compares the two jobs' output
}

// WorkerCPUProfile profiles a local-cluster's workers, where the work
// happens, while the driver profiles itself; IsWorker keeps the workers
// (which run this main too) from overwriting the driver's profile. Not
// run: it starts worker processes.
func ExampleWorkerCPUProfile() {
	if !sluice.IsWorker() {
		f, err := os.Create("cpu.driver")
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	err := sluice.Run(context.Background(), []string{"-duration", "1m"}, func(c *sluice.Context) {
		sluice.Print(sluice.SocketText(c, "localhost:9999"), 10)
	}, sluice.Master("local-cluster[4]"), sluice.WorkerCPUProfile("cpu")) // writes cpu.worker-0 … cpu.worker-3
	if err != nil {
		log.Print(err) // not Fatal: the deferred calls complete the profile
	}
}
