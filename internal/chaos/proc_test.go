package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The follower reads the batch log as it grows, a line at a time once it
// is complete, and each batch once.
func TestFollowerReadsTheGrowingLog(t *testing.T) {
	dir := t.TempDir()
	fl := newFollower(dir)
	defer fl.close()
	if got := fl.next(); len(got) != 0 {
		t.Fatalf("no log yet: %v", got)
	}
	f, err := os.OpenFile(filepath.Join(dir, "batches.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"b":1000,"done":1150,"proc":100,"n":500}` + "\n" + `{"b":2000,"do`)
	got := fl.next()
	if len(got) != 1 || !got[0].Time.Equal(time.UnixMilli(1000)) || got[0].Records != 500 ||
		got[0].TotalDelay != 150*time.Millisecond || got[0].ProcessingTime != 100*time.Millisecond || got[0].SchedulingDelay != 50*time.Millisecond {
		t.Fatalf("first read: %+v, want batch 1000 (500 records, 50 + 100 = 150 ms)", got)
	}
	// The line completes; a restarted driver logs batch 2000 again.
	write(`ne":2100,"proc":80,"n":400}` + "\n" + `{"b":2000,"done":2900,"proc":80}` + "\n" + `{"b":3000,"done":3100,"proc":90}` + "\n")
	got = fl.next()
	if len(got) != 2 || !got[0].Time.Equal(time.UnixMilli(2000)) || got[0].Records != 400 || !got[1].Time.Equal(time.UnixMilli(3000)) {
		t.Fatalf("second read: %+v, want batches 2000 and 3000, once each", got)
	}
	if got := fl.next(); len(got) != 0 {
		t.Fatalf("nothing new: %+v", got)
	}
}
