package ratecontrol_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/ratecontrol"
)

// An input of 1s batches that the job processes at 2,000 records/s: the
// first batch read 5,000 records (no limit yet) and took 2.5s, so the
// next batches waited; the estimator brings the rate to what the job can
// take, less what it takes to drain the delay.
func Example() {
	est, err := ratecontrol.New(time.Second, ratecontrol.DefaultPID())
	if err != nil {
		panic(err)
	}
	t := time.Unix(0, 0)
	batch := func(k int, records int64, processing, scheduling time.Duration) {
		if r, ok := est.Update(t.Add(time.Duration(k)*time.Second), records, processing, scheduling); ok {
			fmt.Printf("batch %d: rate %.0f/s, limit %d records\n", k, r, ratecontrol.Limit(r, time.Second))
		} else {
			fmt.Printf("batch %d: no rate yet\n", k)
		}
	}
	batch(1, 5000, 2500*time.Millisecond, 0)
	batch(2, 5000, 2500*time.Millisecond, 1500*time.Millisecond)
	batch(3, 1400, 700*time.Millisecond, 3000*time.Millisecond)
	batch(4, 1400, 700*time.Millisecond, 2700*time.Millisecond)
	// Output:
	// batch 1: no rate yet
	// batch 2: rate 1400/s, limit 1400 records
	// batch 3: rate 800/s, limit 800 records
	// batch 4: rate 920/s, limit 920 records
}
