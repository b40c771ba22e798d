package sluice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// noon is the event time the event-time examples start from.
var noon = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// afterNoon is an event time, s seconds after noon.
func afterNoon(s int) time.Time { return noon.Add(time.Duration(s) * time.Second) }

// payment is a record that carries its own event time.
type payment struct {
	At    time.Time
	Cents int
}

// printWindows prints every batch's closed windows as
// "start-end key value", sorted.
func printWindows[K comparable, V any](s *sluice.Stream[sluice.KV[sluice.EventWindow[K], V]]) {
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[sluice.KV[sluice.EventWindow[K], V]], t time.Time) error {
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		var out []string
		for _, r := range recs {
			w := r.Key
			out = append(out, fmt.Sprintf("%s-%s %v %v", w.Start.Format("15:04:05"), w.End.Format("15:04:05"), w.Key, r.Value))
		}
		slices.Sort(out)
		fmt.Printf("%ds: [%s]\n", t.Unix(), strings.Join(out, ", "))
		return nil
	})
}

type pay = sluice.KV[string, payment]

// payments is the input of the payment examples: four batches.
func payments(j *exampleJob, last ...pay) *sluice.Stream[pay] {
	q := sluice.NewQueue(
		[]pay{sluice.Pair("ana", payment{afterNoon(3), 500}), sluice.Pair("bob", payment{afterNoon(7), 200}), sluice.Pair("ana", payment{afterNoon(12), 100})},
		[]pay{sluice.Pair("ana", payment{afterNoon(9), 400}), sluice.Pair("bob", payment{afterNoon(15), 300})},
		[]pay{sluice.Pair("ana", payment{afterNoon(21), 100})},
		last,
	)
	return sluice.QueueStream(j.Context, q, 2)
}

func paidAt(p pay) time.Time { return p.Value.At }

// addPayments adds the amounts and keeps the latest time: associative and
// commutative, as a reduce function must be.
func addPayments(a, b payment) payment {
	if b.At.After(a.At) {
		a.At = b.At
	}
	a.Cents += b.Cents
	return a
}

// centsOf keeps the windows' amounts.
func centsOf(s *sluice.Stream[sluice.KV[sluice.EventWindow[string], payment]]) *sluice.Stream[sluice.KV[sluice.EventWindow[string], int]] {
	return sluice.Map(s, func(r sluice.KV[sluice.EventWindow[string], payment]) sluice.KV[sluice.EventWindow[string], int] {
		return sluice.Pair(r.Key, r.Value.Cents)
	})
}

// ReduceByKeyAndEventWindow totals each user's payments per ten seconds of
// the payments' own times, whenever they arrive. A window closes in the
// batch that brings a payment at or after its end; a payment for a window
// already closed is late and dropped (ana's at 12:00:09, in the second
// batch).
func ExampleReduceByKeyAndEventWindow() {
	j := newExampleJob()
	defer j.stop()
	totals := sluice.ReduceByKeyAndEventWindow(payments(j), paidAt, addPayments,
		10*time.Second, 10*time.Second, sluice.Named("totals"))
	printWindows(centsOf(totals))
	j.run(4)
	// Output:
	// 1s: [12:00:00-12:00:10 ana 500, 12:00:00-12:00:10 bob 200]
	// 2s: []
	// 3s: [12:00:10-12:00:20 ana 100, 12:00:10-12:00:20 bob 300]
	// 4s: []
}

// AllowedLateness lets windows wait five seconds for payments out of
// order: the watermark trails the latest payment by 5s, so ana's payment
// at 12:00:09 still counts, and each window closes one batch later.
func ExampleAllowedLateness() {
	j := newExampleJob()
	defer j.stop()
	in := payments(j, sluice.Pair("bob", payment{afterNoon(26), 100}))
	totals := sluice.ReduceByKeyAndEventWindow(in, paidAt, addPayments,
		10*time.Second, 10*time.Second, sluice.Named("totals"), sluice.AllowedLateness(5*time.Second))
	printWindows(centsOf(totals))
	j.run(4)
	// Output:
	// 1s: []
	// 2s: [12:00:00-12:00:10 ana 900, 12:00:00-12:00:10 bob 200]
	// 3s: []
	// 4s: [12:00:10-12:00:20 ana 100, 12:00:10-12:00:20 bob 300]
}

// adClick is a click on an ad at an event time.
type adClick struct {
	Ad string
	At time.Time
}

// CountByEventWindow counts each ad's clicks over sliding windows of ten
// seconds every five: a click counts in the two windows that hold it.
func ExampleCountByEventWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue(
		[]adClick{{"ad1", afterNoon(6)}, {"ad1", afterNoon(9)}, {"ad2", afterNoon(12)}},
		[]adClick{{"ad2", afterNoon(17)}, {"ad1", afterNoon(21)}},
		nil,
	)
	clicks := sluice.QueueStream(j.Context, q, 2)
	counts := sluice.CountByEventWindow(clicks, func(c adClick) string { return c.Ad }, func(c adClick) time.Time { return c.At },
		10*time.Second, 5*time.Second, sluice.Named("clicks"))
	printWindows(counts)
	j.run(3)
	// Output:
	// 1s: [12:00:00-12:00:10 ad1 2]
	// 2s: [12:00:05-12:00:15 ad1 2, 12:00:05-12:00:15 ad2 1, 12:00:10-12:00:20 ad2 2]
	// 3s: []
}

// An EventWindow keys each result of an event-time window: the interval
// of event time and the key.
func ExampleEventWindow() {
	w := sluice.EventWindow[string]{Start: noon, End: noon.Add(time.Minute), Key: "/home"}
	fmt.Println(w.Key, w.End.Sub(w.Start), w.Start.Format(time.Kitchen))
	// Output: /home 1m0s 12:00PM
}

// String shows a window with its times in RFC 3339, as Print does.
func ExampleEventWindow_String() {
	w := sluice.EventWindow[string]{Start: noon, End: noon.Add(time.Minute), Key: "/home"}
	fmt.Println(w)
	fmt.Println(sluice.Pair(w, 42))
	// Output:
	// /home@[2024-05-01T12:00:00Z, 2024-05-01T12:01:00Z)
	// {/home@[2024-05-01T12:00:00Z, 2024-05-01T12:01:00Z) 42}
}
