package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sluicetest"
)

type order struct {
	ID     int    `json:"id"`
	Amount int    `json:"amount"`
	Shop   string `json:"shop"`
}

// A job writes its large orders with WriteTo; each batch becomes a
// directory of part files, committed by _SUCCESS.
func Example() {
	dir, err := os.MkdirTemp("", "sluice-file")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	infos := make(chan sluice.BatchInfo, 8)
	sc, err := sluice.NewContext(sluice.Master("local[2]"), sluice.Batch(time.Second),
		sluice.WithClock(clock), sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	q := sluice.NewQueue(
		[]order{{1, 250, "paris"}, {2, 20, "oslo"}, {3, 900, "oslo"}},
		[]order{{4, 120, "rome"}})
	large := sluice.Filter(sluice.QueueStream(sc, q, 2), func(o order) bool { return o.Amount >= 100 })
	sluice.WriteTo(large, file.New[order](dir), sluice.Named("large-orders"))
	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		clock.Advance(time.Second)
		if info := <-infos; info.Err != nil {
			fmt.Println(info.Err)
			return
		}
	}

	batches, err := file.ReadBatches(dir, "large-orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range batches {
		for p, lines := range b.Parts {
			for _, l := range lines {
				fmt.Printf("%d/%s %s\n", b.Time.UnixMilli(), file.PartName(p), l)
			}
		}
	}
	success, _ := os.ReadFile(filepath.Join(dir, "large-orders", "1000", file.SuccessName))
	fmt.Printf("_SUCCESS %q\n", success)
	recs, err := file.Decode[order](batches[1].Lines())
	fmt.Println(recs, err)
	// Output:
	// 1000/part-00000.jsonl {"id":1,"amount":250,"shop":"paris"}
	// 1000/part-00001.jsonl {"id":3,"amount":900,"shop":"oslo"}
	// 2000/part-00001.jsonl {"id":4,"amount":120,"shop":"rome"}
	// _SUCCESS "2\n"
	// [{4 120 rome}] <nil>
}
