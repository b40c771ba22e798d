package file

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

const killChildEnv = "SLUICE_FILE_KILL_CHILD_DIR"

// killBatches is how many batches the child commits.
const killBatches = 150

// killRecords returns batch i's records, partition by partition.
func killRecords(i int) [][]string {
	out := make([][]string, 2)
	for p := range out {
		for k := range i % 4 {
			out[p] = append(out[p], fmt.Sprintf("%d/%d/%d", i, p, k))
		}
	}
	return out
}

// killChild commits batches 1..killBatches to a sink compacting every 5
// batches, from the first (batches committed before are committed again,
// as a restarted driver would).
func killChild(dir string) error {
	s := New[string](dir, Compact[string](5*time.Second), CompactSettle[string](time.Second))
	for i := 1; i <= killBatches; i++ {
		bt := time.UnixMilli(int64(i) * 1000)
		recs := killRecords(i)
		for p, r := range recs {
			if err := s.Write(context.Background(), sluice.OutputKey{Output: "k", Batch: bt, Partition: p, Partitions: len(recs)}, r); err != nil {
				return err
			}
		}
		if err := s.CommitBatch(context.Background(), "k", bt, len(recs)); err != nil {
			return err
		}
	}
	return nil
}

// checkKilled checks that what a killed child left reads each batch at
// most once and whole; it returns how many batches it reads.
func checkKilled(t *testing.T, dir string) int {
	t.Helper()
	bs, err := ReadBatches(dir, "k")
	if err != nil {
		t.Fatal(err)
	}
	for j, b := range bs {
		i := int(b.Time.UnixMilli() / 1000)
		if j > 0 && !bs[j-1].Time.Before(b.Time) {
			t.Fatalf("batch %d read twice", i)
		}
		want := killRecords(i)
		if len(b.Parts) != len(want) {
			t.Fatalf("batch %d has %d parts", i, len(b.Parts))
		}
		for p := range want {
			got, err := Decode[string](b.Parts[p])
			if err != nil || !slices.Equal(got, want[p]) {
				t.Fatalf("batch %d partition %d holds %q (%v), want %q", i, p, got, err, want[p])
			}
		}
	}
	return len(bs)
}

// A process committing and compacting batches is SIGKILLed at random
// moments, again and again: each time, the output reads every batch at
// most once, and whole; a last run that is not killed leaves every batch
// exactly once.
func TestCompactionSIGKILL(t *testing.T) {
	if d := os.Getenv(killChildEnv); d != "" {
		if err := killChild(d); err != nil {
			t.Fatal(err)
		}
		return
	}
	if testing.Short() {
		t.Skip("kills child processes for a few seconds")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seed := r.Uint64()
	t.Logf("seed %d", seed)
	r = rand.New(rand.NewPCG(seed, 1))
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+r.IntN(300)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL
		err := cmd.Wait()
		n := checkKilled(t, dir)
		t.Logf("round %d: killed (%v); %d batches read", round, err, n)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("last run: %v\n%s", err, out)
	}
	if n := checkKilled(t, dir); n != killBatches {
		t.Fatalf("%d batches after the last run, want %d", n, killBatches)
	}
}
