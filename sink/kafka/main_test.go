package kafka_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// brokersEnv passes a test's kfake cluster to the worker processes of
// SLUICE_TEST_MASTER=local-cluster[N], which run the same test and inherit
// the environment.
const brokersEnv = "SLUICE_KAFKA_TEST_BROKERS"

var bg = context.Background()

// cluster returns the brokers of an in-process Kafka cluster (kfake) for
// the test, with the topic out (4 partitions), closed when it ends.
func cluster(t *testing.T) []string {
	t.Helper()
	if b := os.Getenv(brokersEnv); b != "" {
		return strings.Split(b, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv(brokersEnv, strings.Join(c.ListenAddrs(), ","))
	return c.ListenAddrs()
}

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
