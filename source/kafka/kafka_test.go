package kafka_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	sinkkafka "github.com/sluicehq/sluice/sink/kafka"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/source/kafka"
)

// values returns "<prefix><i>" for i in [from, to).
func values(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// byPrefix splits records "pN-i" by their partition prefix, in the order
// read.
func byPrefix(recs []string) map[string][]string {
	out := make(map[string][]string)
	for _, r := range recs {
		p, _, _ := strings.Cut(r, "-")
		out[p] = append(out[p], r)
	}
	return out
}

func flatten(bs [][]string) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestReadsEveryRecordOnceInOrder(t *testing.T) {
	brokers := cluster(t)
	var prod *kgo.Client
	if setup() {
		createTopic(t, admin(t, brokers), "events", 3)
		prod = producer(t, brokers)
		for p := range int32(3) {
			produce(t, prod, "events", p, values(fmt.Sprintf("p%d-", p), 0, 5+int(p))...)
		}
	}
	h := sluicetest.New(t, time.Second)
	src := kafka.New[string](brokers, []string{"events"}, nil, kafka.Group("job"))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("events")))
	h.Run(1)
	if setup() { // more records while the job runs, and a transaction aborted between them
		produce(t, prod, "events", 0, values("p0-", 5, 9)...)
		abortedTxn(t, brokers, "events", 1, "p1-aborted")
		produce(t, prod, "events", 1, values("p1-", 6, 8)...)
	}
	h.Run(2)
	if setup() {
		produce(t, prod, "events", 2, values("p2-", 7, 10)...)
	}
	h.Run(1)
	got := byPrefix(flatten(out.Batches()))
	want := map[string][]string{"p0": values("p0-", 0, 9), "p1": values("p1-", 0, 8), "p2": values("p2-", 0, 10)}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("partition %s read %v, want %v", p, got[p], w)
		}
	}
	if n := len(out.Batches()[2]); n != 0 {
		t.Errorf("batch 3 read %d records, want none (nothing new)", n)
	}
	if len(got) != 3 {
		t.Errorf("read %v", got)
	}
	// The group's offsets are the end of the last batch (the source's
	// Commit runs on the driver, after each batch).
	offs, err := admin(t, brokers).FetchOffsets(bg, "job")
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range map[int32]int64{0: 9, 1: 10, 2: 10} { // p1: 8 records and an aborted one with its marker
		if o, ok := offs.Lookup("events", p); !ok || o.At != end {
			t.Errorf("group offset of events/%d is %+v, want %d", p, o, end)
		}
	}
}

// abortedTxn writes value to topic/p in a transaction that it aborts.
func abortedTxn(t *testing.T, brokers []string, topic string, p int32, value string) {
	t.Helper()
	cl := producer(t, brokers, kgo.TransactionalID("test-aborted"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, topic, p, value)
	if err := cl.EndTransaction(bg, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

func TestNewPartitionIsRead(t *testing.T) {
	brokers := cluster(t)
	var prod *kgo.Client
	if setup() {
		createTopic(t, admin(t, brokers), "grow", 1)
		prod = producer(t, brokers)
		produce(t, prod, "grow", 0, values("p0-", 0, 3)...)
	}
	h := sluicetest.New(t, time.Second)
	src := kafka.New[string](brokers, []string{"grow"}, nil)
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("grow")))
	h.Run(1)
	if setup() {
		if _, err := admin(t, brokers).CreatePartitions(bg, 2, "grow"); err != nil {
			t.Fatal(err)
		}
		prod = producer(t, brokers) // one that knows the new partitions
		produce(t, prod, "grow", 2, values("p2-", 0, 4)...)
		produce(t, prod, "grow", 0, values("p0-", 3, 5)...)
	}
	h.Run(1)
	bs := out.Batches()
	if !slices.Equal(bs[0], values("p0-", 0, 3)) {
		t.Errorf("batch 1: %v", bs[0])
	}
	if want := append(values("p0-", 3, 5), values("p2-", 0, 4)...); !slices.Equal(bs[1], want) {
		t.Errorf("batch 2: %v, want %v", bs[1], want)
	}
}

func TestRegexPicksUpNewTopics(t *testing.T) {
	brokers := cluster(t)
	var prod *kgo.Client
	if setup() {
		adm := admin(t, brokers)
		createTopic(t, adm, "clicks.eu", 1)
		createTopic(t, adm, "views", 1)
		prod = producer(t, brokers)
		produce(t, prod, "clicks.eu", 0, "eu-0", "eu-1")
		produce(t, prod, "views", 0, "v-0")
	}
	h := sluicetest.New(t, time.Second)
	src := kafka.New[string](brokers, []string{`clicks\..*`}, nil, kafka.Regex())
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("clicks")))
	h.Run(1)
	if setup() {
		createTopic(t, admin(t, brokers), "clicks.us", 2)
		produce(t, prod, "clicks.us", 1, "us-0")
	}
	h.Run(1)
	if got, want := out.Batches(), [][]string{{"eu-0", "eu-1"}, {"us-0"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestMaxRatePerPartition(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		createTopic(t, admin(t, brokers), "rated", 3)
		prod := producer(t, brokers)
		produce(t, prod, "rated", 0, values("p0-", 0, 10)...)
		produce(t, prod, "rated", 1, values("p1-", 0, 4)...)
	}
	h := sluicetest.New(t, time.Second, sluice.NoBackpressure())
	src := kafka.New[string](brokers, []string{"rated"}, nil, kafka.MaxRatePerPartition(3, time.Second))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("rated")))
	h.Run(5)
	var sizes []int
	for _, b := range out.Batches() {
		sizes = append(sizes, len(b))
	}
	if want := []int{6, 4, 3, 1, 0}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v (3 per partition per batch)", sizes, want)
	}
	got := byPrefix(flatten(out.Batches()))
	if !slices.Equal(got["p0"], values("p0-", 0, 10)) || !slices.Equal(got["p1"], values("p1-", 0, 4)) {
		t.Errorf("read %v", got)
	}
}

func TestLimitSplitsByLag(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		createTopic(t, admin(t, brokers), "limited", 2)
		prod := producer(t, brokers)
		produce(t, prod, "limited", 0, values("p0-", 0, 10)...)
		produce(t, prod, "limited", 1, values("p1-", 0, 5)...)
	}
	h := sluicetest.New(t, time.Second, sluice.MaxRate(5), sluice.NoBackpressure())
	src := kafka.New[string](brokers, []string{"limited"}, nil)
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("limited")))
	h.Run(4)
	bs := out.Batches()
	// Batch 1: lags 10 and 5, limit 5: 3.33 and 1.67, so 3 and 2 (the
	// larger remainder gets the record left). Batch 2: lags 7 and 3: 3.5
	// and 1.5, so 4 and 1 (a tie: the first partition).
	want := [][]string{
		append(values("p0-", 0, 3), values("p1-", 0, 2)...),
		append(values("p0-", 3, 7), values("p1-", 2, 3)...),
		append(values("p0-", 7, 10), values("p1-", 3, 5)...),
		nil,
	}
	for i := range want {
		if i >= len(bs) || !slices.Equal(bs[i], want[i]) {
			t.Errorf("batches %v,\nwant %v", bs, want)
			break
		}
	}
}

func TestSplitAbove(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		createTopic(t, admin(t, brokers), "big", 1)
		produce(t, producer(t, brokers), "big", 0, values("p0-", 0, 10)...)
	}
	h := sluicetest.New(t, time.Second)
	src := kafka.New[string](brokers, []string{"big"}, nil, kafka.SplitAbove(4))
	in := sluice.FromSource(h.Context, src, sluice.Named("big"))
	parts := sluicetest.Collect(sluice.MapPartitions(in, func(rs []string) []int { return []int{len(rs)} }))
	out := sluicetest.Collect(in)
	h.Run(1)
	if got := parts.Batches()[0]; !slices.Equal(got, []int{4, 4, 2}) {
		t.Errorf("parts of %v records, want 4, 4, 2", got)
	}
	if got := out.Batches()[0]; !slices.Equal(got, values("p0-", 0, 10)) {
		t.Errorf("read %v", got)
	}
}

// failOnBad decodes values, refusing "bad…".
func failOnBad(r *kgo.Record) (string, error) {
	if strings.HasPrefix(string(r.Value), "bad") {
		return "", errors.New("malformed")
	}
	return string(r.Value), nil
}

func TestBadRecordFailsBatch(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		createTopic(t, admin(t, brokers), "orders", 2)
		prod := producer(t, brokers)
		produce(t, prod, "orders", 0, "a", "b")
		produce(t, prod, "orders", 1, "c", "bad", "d")
	}
	h := sluicetest.New(t, time.Second)
	sluicetest.Collect(sluice.FromSource(h.Context, kafka.New(brokers, []string{"orders"}, failOnBad), sluice.Named("orders")))
	_, err := h.TryRun(1)
	if err == nil {
		t.Fatal("a malformed record did not fail its batch")
	}
	for _, want := range []string{"orders/1@1", "malformed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestBadRecordToDeadLetter(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		adm := admin(t, brokers)
		createTopic(t, adm, "orders", 2)
		createTopic(t, adm, "orders-dead", 1)
		prod := producer(t, brokers)
		produce(t, prod, "orders", 0, "a", "bad0", "b")
		produce(t, prod, "orders", 1, "c", "bad1", "d")
	}
	h := sluicetest.New(t, time.Second)
	dead := sinkkafka.New(brokers, "orders-dead", func(b sluice.BadRecord) ([]byte, []byte, error) {
		v, err := json.Marshal(b)
		return nil, v, err
	})
	defer dead.Close()
	in := sluice.FromSource(h.Context, kafka.New(brokers, []string{"orders"}, failOnBad), sluice.Named("orders"), sluice.DeadLetter(dead))
	out := sluicetest.Collect(in)
	h.Run(1)
	if got := out.Batches()[0]; !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("read %v, want a b c d", got)
	}
	var got []string
	err := sinkkafka.ReadCommitted(bg, brokers, "orders-dead", func(_ sluice.OutputKey, _ bool, r *kgo.Record) error {
		var b sluice.BadRecord
		if err := json.Unmarshal(r.Value, &b); err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", b.Input, b.Position, b.Value, b.Error))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"orders orders/0@1 bad0 malformed", "orders orders/1@1 bad1 malformed"}; !slices.Equal(got, want) {
		t.Errorf("dead letters %q, want %q", got, want)
	}
}

func TestStartAtLatest(t *testing.T) {
	brokers := cluster(t)
	var prod *kgo.Client
	if setup() {
		createTopic(t, admin(t, brokers), "late", 1)
		prod = producer(t, brokers)
		produce(t, prod, "late", 0, "old")
	}
	h := sluicetest.New(t, time.Second)
	src := kafka.New[string](brokers, []string{"late"}, nil, kafka.StartAt(kafka.Latest))
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("late")))
	h.Run(1)
	if setup() {
		produce(t, prod, "late", 0, "new")
	}
	h.Run(1)
	if got, want := out.Batches(), [][]string{nil, {"new"}}; len(got) != 2 || len(got[0]) != 0 || !slices.Equal(got[1], want[1]) {
		t.Errorf("batches %q, want nothing then new", got)
	}
}

func TestReplayByTime(t *testing.T) {
	brokers := cluster(t)
	if setup() {
		createTopic(t, admin(t, brokers), "timed", 2)
		prod := producer(t, brokers)
		// Records at 0.5 s, 1.5 s, … after the harness's epoch (batch
		// i is at Epoch + i s), filled ahead of the job's clock.
		var recs []*kgo.Record
		for i := range 8 {
			ts := sluicetest.Epoch.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
			recs = append(recs, &kgo.Record{Topic: "timed", Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i), Timestamp: ts})
		}
		// One exactly at batch 4's time: it belongs to batch 5.
		recs = append(recs, &kgo.Record{Topic: "timed", Partition: 0, Value: []byte("at3"), Timestamp: sluicetest.Epoch.Add(8 * time.Second)})
		if err := prod.ProduceSync(bg, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	h := sluicetest.New(t, 2*time.Second)
	src := kafka.New[string](brokers, []string{"timed"}, nil, kafka.ReplayByTime())
	out := sluicetest.Collect(sluice.FromSource(h.Context, src, sluice.Named("timed")))
	h.Run(5)
	// Batch i is at 2i s and reads the records before it.
	want := [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r4", "r5"}, {"r6", "r7"}, {"at3"}}
	got := out.Batches()
	for i := range want {
		g := slices.Clone(got[i])
		slices.Sort(g)
		if !slices.Equal(g, want[i]) {
			t.Errorf("batch %d read %v, want %v", i+1, got[i], want[i])
		}
	}
}
