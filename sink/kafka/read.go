package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	kafkasrc "github.com/sluicehq/sluice/source/kafka"
)

// ReadCommitted reads what is committed in topic, partition by partition
// up to its last stable offset, with read_committed (as every reader of
// an exactly-once sink's topic must), and calls each with every record
// and the output key its headers name (ok false: a record without the
// sink's headers). It is for tests and tools: a job reads a topic with
// source/kafka.
func ReadCommitted(ctx context.Context, brokers []string, topic string,
	each func(key sluice.OutputKey, ok bool, r *kgo.Record) error, opts ...Option) error {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	copts := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, cfg.clientOpts...)
	cl, err := kgo.NewClient(copts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: listing %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: listing %s: %w", topic, err)
	}
	var ps []int32
	for p := range ends[topic] {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		start, _ := starts.Lookup(topic, p)
		end, _ := ends.Lookup(topic, p)
		r := kafkasrc.Range{Topic: topic, Partition: p, From: start.Offset, To: end.Offset}
		err := kafkasrc.ReadRange(ctx, copts, r, func(rec *kgo.Record) error {
			key, ok, err := KeyOf(rec.Headers)
			if err != nil {
				return fmt.Errorf("%s: %w", kafkasrc.Position(rec.Topic, rec.Partition, rec.Offset), err)
			}
			return each(key, ok, rec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
