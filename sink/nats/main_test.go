package nats_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// urlEnv passes the test server's URL to the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N], which run the same test and
// inherit the environment: they connect to the test process's server
// instead of starting one.
const urlEnv = "SLUICE_NATS_TEST_URL"

var bg = context.Background()

// startServer starts an embedded JetStream server for the test, on a
// random port with its store in a temporary directory, and returns its
// URL; in a worker process it returns the URL of the test process's.
func startServer(t testing.TB) string {
	t.Helper()
	if sluice.IsWorker() {
		u := os.Getenv(urlEnv)
		if u == "" {
			t.Fatalf("a worker process without %s", urlEnv)
		}
		return u
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("the embedded NATS server did not start")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	t.Setenv(urlEnv, ns.ClientURL())
	return ns.ClientURL()
}

// connect connects the test to url, closed when the test ends.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// newStream starts a server with stream name capturing subjects, with a
// duplicate window (0: the server's default, 2 minutes), in the test
// process (in a worker, only the URL: the stream is there).
func newStream(t *testing.T, name string, window time.Duration, subjects ...string) (string, jetstream.JetStream) {
	t.Helper()
	url := startServer(t)
	if sluice.IsWorker() {
		return url, nil
	}
	js := connect(t, url)
	if _, err := js.CreateStream(bg, jetstream.StreamConfig{Name: name, Subjects: subjects, Duplicates: window}); err != nil {
		t.Fatal(err)
	}
	return url, js
}
