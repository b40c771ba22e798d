package kafka_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// brokersEnv passes a test's kfake cluster to the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N], which run the same test and inherit
// the environment: they use the test process's cluster instead of making
// one (and must not fill its topics again: see setup).
const brokersEnv = "SLUICE_KAFKA_TEST_BROKERS"

// cluster returns the brokers of an in-process Kafka cluster (kfake) for
// the test, closed when it ends.
func cluster(t *testing.T) []string {
	t.Helper()
	if b := os.Getenv(brokersEnv); b != "" {
		return strings.Split(b, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv(brokersEnv, strings.Join(c.ListenAddrs(), ","))
	return c.ListenAddrs()
}

// setup reports whether this process fills the test's topics: the test's
// own, not its worker processes.
func setup() bool { return !sluice.IsWorker() }

var bg = context.Background()

// admin returns an admin client, closed when the test ends.
func admin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	t.Cleanup(adm.Close)
	return adm
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, parts int32) {
	t.Helper()
	if _, err := adm.CreateTopic(bg, parts, 1, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// producer returns a client that produces to the partition set on each
// record, closed when the test ends.
func producer(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes values to topic's partition p, in order.
func produce(t *testing.T, cl *kgo.Client, topic string, p int32, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte(v), Timestamp: time.Now()}
	}
	if err := cl.ProduceSync(bg, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s/%d: %v", topic, p, err)
	}
}
