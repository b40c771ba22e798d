package sluice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// ReadState reads a stopped job's state from its latest state checkpoint,
// as its outputs saw it at that batch: every key by sample, one key by
// key, for UpdateStateByKey, MapWithState and an incremental window.
func TestReadStateFromCheckpoint(t *testing.T) {
	loc := t.TempDir()
	j := &resumeJob{}
	c, clock, infos := newResumeContext(t, loc, j)
	runUntil(t, c, clock, infos, 7)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, op := range []string{"totals", "seen", "window"} {
		snap, err := sluice.ReadState(ctx, loc, op, (&resumeJob{}).build, sluice.StateQuery{Sample: 1000})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		var got []string
		for _, e := range snap.Entries {
			got = append(got, fmt.Sprintf("{%s %s}", e.Key, e.Value))
		}
		slices.Sort(got)
		want := j.out[op][snap.Batch.UnixMilli()]
		if len(want) == 0 || strings.Join(got, " ") != strings.Join(want, " ") || snap.Read != snap.Partitions {
			t.Errorf("%s at %d: read %d of %d partitions: %v, want %v", op, snap.Batch.UnixMilli(), snap.Read, snap.Partitions, got, want)
		}
		if len(got) == 0 {
			continue
		}
		key := strings.Fields(strings.Trim(want[0], "{}"))[0]
		one, err := sluice.ReadState(ctx, loc, op, (&resumeJob{}).build, sluice.StateQuery{Key: key, HasKey: true})
		if err != nil || len(one.Entries) != 1 || fmt.Sprintf("{%s %s}", one.Entries[0].Key, one.Entries[0].Value) != want[0] || one.Read != 1 {
			t.Errorf("%s key %s: %+v, %v; want %s from one partition", op, key, one, err, want[0])
		}
	}
	if _, err := sluice.ReadState(ctx, loc, "nothing", (&resumeJob{}).build, sluice.StateQuery{}); err == nil || !strings.Contains(err.Error(), "totals") {
		t.Errorf("an unknown operator: %v, want an error listing the operators", err)
	}
	if _, err := sluice.ReadState(ctx, loc, "totals", (&resumeJob{}).build, sluice.StateQuery{Key: "x", HasKey: true}); err == nil {
		t.Error("a key that is not an int: no error")
	}
	if _, err := sluice.ReadState(ctx, loc, "totals", (&resumeJob{changed: "retype"}).build, sluice.StateQuery{}); err == nil {
		t.Error("a job whose state has another type: no error")
	}
}
