package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/chaos"
	"github.com/sluicehq/sluice/sink/file"
)

// TestReplayChaosJob runs the chaos job for 11 batches with state
// checkpoints every 4, then replays batches with `sluice replay --json`:
// each output of each replayed batch equals what the job wrote to its file
// sink for that batch, record for record, and the replay writes nothing.
func TestReplayChaosJob(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCmd("chaos", "job", "--dir", dir, "--master", "local[2]", "--batch", "100ms", "--rate", "2000",
		"--seed", "7", "--batches", "11", "--checkpoint-interval", "400ms")
	if code != 0 {
		t.Fatalf("chaos job: exit %d: %s", code, errs)
	}
	ckpt := filepath.Join(dir, "checkpoint")
	info, err := sluice.ReadCheckpoint(context.Background(), ckpt)
	if err != nil || info == nil {
		t.Fatalf("checkpoint: %v, %v", info, err)
	}
	if info.Program != chaos.ProgramName || !slices.Contains(info.Args, "--checkpoint-interval") {
		t.Fatalf("the checkpoint records %q %q", info.Program, info.Args)
	}
	number := func(bt time.Time) int { return int(bt.Sub(info.First)/info.Batch) + 1 }
	// State checkpoints at batches 4 and 8, and at 11 (the graceful stop)
	// for the operators that have a batch there: the metadata keeps 8.
	if from, last := number(info.ReplayFrom), number(info.Completed); from != 8 || last != 11 {
		t.Fatalf("replayable batches %d to %d, want 8 to 11 (state checkpoints %v)", from, last, info.State)
	}
	outputs := make(map[string]map[int64][]string) // name → batch ms → records
	for _, name := range chaos.Outputs {
		bs, err := file.ReadBatches(filepath.Join(dir, "out"), name)
		if err != nil {
			t.Fatal(err)
		}
		outputs[name] = make(map[int64][]string)
		for _, b := range bs {
			recs := []string{}
			for _, l := range b.Lines() {
				var r chaos.Rec
				if err := json.Unmarshal(l, &r); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, fmt.Sprint(r))
			}
			outputs[name][b.Time.UnixMilli()] = recs
		}
	}
	before := snapshotDir(t, dir)
	// Batch 10: every state recomputed from its checkpoint at 8, given as
	// a number; batch 11, the last, given as a time.
	for _, arg := range []string{"10", fmt.Sprint(info.Completed.UnixNano())} {
		code, out, errs := runCmd("replay", "--checkpoint", ckpt, "--batch", arg, "--json")
		if code != 0 {
			t.Fatalf("replay --batch %s: exit %d: %s", arg, code, errs)
		}
		var got struct {
			Batch   int64               `json:"batch"`
			Outputs map[string][]string `json:"outputs"`
			Records int                 `json:"records"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("replay --json printed %q: %v", out, err)
		}
		n := 0
		for _, name := range chaos.Outputs {
			want, ok := outputs[name][got.Batch]
			g, replayed := got.Outputs[name]
			if ok != replayed || !slices.Equal(g, want) {
				t.Errorf("batch %s, %s: replayed %v (%v), the job wrote %v (%v)", arg, name, g, replayed, want, ok)
			}
			n += len(want)
		}
		if got.Records != n || n == 0 {
			t.Errorf("batch %s: %d records, want %d (> 0)", arg, got.Records, n)
		}
	}
	if after := snapshotDir(t, dir); !slices.Equal(before, after) {
		t.Errorf("the replay changed the job's directory:\nbefore %v\nafter  %v", before, after)
	}

	code, out, errs := runCmd("replay", "--checkpoint", ckpt, "--batch", "10")
	if code != 0 || !strings.Contains(out, "batch 10 of chaos job") || !strings.Contains(out, "totals from batch 8") ||
		!strings.Contains(out, "window (WriteTo):") {
		t.Errorf("replay in text: exit %d\n%s%s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--checkpoint", ckpt, "--batch", "5"}, 1, "not in the range the checkpoint"},
		{[]string{"--checkpoint", ckpt, "--batch", "yesterday"}, 1, "neither a batch number nor a time"},
		{[]string{"--checkpoint", ckpt, "--batch", "0"}, 1, "batch numbers start at 1"},
		{[]string{"--checkpoint", t.TempDir(), "--batch", "1"}, 1, "no checkpoint in"},
		{[]string{"--batch", "1"}, 2, "needs --checkpoint and --batch"},
	} {
		code, _, errs := runCmd(append([]string{"replay"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("replay %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
}

// snapshotDir lists the files under dir with their sizes and times.
func snapshotDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, fmt.Sprintf("%s %d %v", p, fi.Size(), fi.ModTime().UnixNano()))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseBatch(t *testing.T) {
	first := time.Date(2026, 3, 1, 10, 0, 1, 0, time.UTC)
	info := &sluice.CheckpointInfo{First: first, Batch: time.Second}
	for _, tc := range []struct {
		arg  string
		want time.Time
	}{
		{"1", first},
		{"12", first.Add(11 * time.Second)},
		{"2026-03-01T10:00:12Z", first.Add(11 * time.Second)},
		{fmt.Sprint(first.Add(11 * time.Second).UnixNano()), first.Add(11 * time.Second)},
		{fmt.Sprint(first.Add(11*time.Second).UnixMilli()) + "ms", first.Add(11 * time.Second)},
		{"1000000", first.Add(999999 * time.Second)},
		{"1000000000000", time.Unix(0, 1_000_000_000_000)},
	} {
		got, err := parseBatch(tc.arg, info)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseBatch(%q) = %v, %v; want %v", tc.arg, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "-3", "12s", "ms", "2026-03-01", "9000000000", "999999999999"} {
		if got, err := parseBatch(bad, info); err == nil {
			t.Errorf("parseBatch(%q) = %v, want an error", bad, got)
		}
	}
}

// TestReplayDemo replays the last batch of a demo run with a checkpoint:
// the command rebuilds the demo from the arguments it recorded.
func TestReplayDemo(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCmd("demo", "--checkpoint", dir, "--duration", "1s", "--batch", "200ms", "--master", "local[2]",
		"--rate", "2000", "--http", "")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errs)
	}
	code, out, errs := runCmd("replay", "--checkpoint", dir, "--batch", "5", "--json")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	var got struct {
		Outputs map[string][]string `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("replay --json printed %q: %v", out, err)
	}
	// The demo's outputs: the batch's event count (2000/s in 200ms),
	// campaigns, flagged users, advertisers' spend.
	if c := got.Outputs["ForeachBatch#0"]; !slices.Equal(c, []string{"400"}) || len(got.Outputs["ForeachBatch#1"]) == 0 ||
		len(got.Outputs["ForeachBatch#3"]) == 0 {
		t.Errorf("replayed demo outputs: %s", out)
	}
}
