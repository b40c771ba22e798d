package sluice_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// cart is a shopping cart's state: its total and how many batches in a
// row it got no item. State moves between processes in a cluster, and only
// exported fields travel (as with encoding/json).
type cart struct {
	Total, Idle int
}

// UpdateStateByKey keeps each user's cart total across batches. The
// update function runs for every cart at every batch, with no values when
// the user added nothing, so it can drop carts idle for two batches.
func ExampleUpdateStateByKey() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue(
		[]sluice.KV[string, int]{{Key: "ana", Value: 5}, {Key: "bob", Value: 3}},
		[]sluice.KV[string, int]{{Key: "ana", Value: 2}},
	)
	items := sluice.QueueStream(j.Context, q, 2)
	carts := sluice.UpdateStateByKey(items, func(user string, prices []int, c cart, exists bool) (cart, bool) {
		if len(prices) == 0 {
			c.Idle++
			return c, c.Idle < 2 // false removes the cart
		}
		c.Idle = 0
		for _, p := range prices {
			c.Total += p
		}
		return c, true
	}, sluice.Named("carts"))
	printEachBatch(carts)
	j.run(4)
	// Output:
	// 1s: [{ana {5 0}} {bob {3 0}}]
	// 2s: [{ana {7 0}} {bob {3 1}}]
	// 3s: [{ana {7 1}}]
	// 4s: []
}

// InitialState starts the running totals from yesterday's.
func ExampleInitialState() {
	j := newExampleJob()
	defer j.stop()
	yesterday := sluice.Parallelize(j.Context, []sluice.KV[string, int]{{Key: "ana", Value: 100}, {Key: "cy", Value: 40}}, 0)
	q := sluice.NewQueue([]sluice.KV[string, int]{{Key: "ana", Value: 5}, {Key: "bob", Value: 3}})
	spend := sluice.UpdateStateByKey(sluice.QueueStream(j.Context, q, 1),
		func(_ string, amounts []int, total int, _ bool) (int, bool) {
			for _, a := range amounts {
				total += a
			}
			return total, true
		},
		sluice.Named("spend"), sluice.InitialState(yesterday))
	printEachBatch(spend)
	j.run(2)
	// Output:
	// 1s: [{ana 105} {bob 3} {cy 40}]
	// 2s: [{ana 105} {bob 3} {cy 40}]
}

// session is a user's visit: the pages seen, in order. Its field is
// exported so that it travels between processes.
type session struct {
	Pages []string
}

// sessionize maps page views to sessions: a session ends when its user
// has viewed nothing for 2s, and is then emitted.
func sessionize(t time.Time, user string, page sluice.Optional[string], st *sluice.State[session]) (string, bool) {
	if st.IsTimingOut() {
		s, _ := st.Get()
		return fmt.Sprintf("%s: %s", user, strings.Join(s.Pages, " → ")), true
	}
	s, _ := st.Get()
	s.Pages = append(s.Pages[:len(s.Pages):len(s.Pages)], page.Value)
	st.Update(s)
	return "", false
}

// MapWithState cuts page views into sessions. With Timeout(2s) and state
// checked every batch (CheckpointInterval), a user's session is emitted
// at the first batch more than 2s after the user's last view.
func ExampleMapWithState() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue(
		[]sluice.KV[string, string]{{Key: "ana", Value: "/home"}, {Key: "bob", Value: "/home"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "/shoes"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "/cart"}},
	)
	views := sluice.QueueStream(j.Context, q, 2)
	sessions, open := sluice.MapWithState(views, sessionize,
		sluice.Named("sessions"), sluice.Timeout(2*time.Second), sluice.CheckpointInterval(time.Second))
	printEachBatchAs("ended", sessions)
	printEachBatchAs("open", sluice.MapValues(open, func(s session) int { return len(s.Pages) }))
	j.run(6)
	// Output:
	// 1s ended: []
	// 1s open: [{ana 1} {bob 1}]
	// 2s ended: []
	// 2s open: [{ana 2} {bob 1}]
	// 3s ended: []
	// 3s open: [{ana 3} {bob 1}]
	// 4s ended: [bob: /home]
	// 4s open: [{ana 3}]
	// 5s ended: []
	// 5s open: [{ana 3}]
	// 6s ended: [ana: /home → /shoes → /cart]
	// 6s open: []
}

// Timeout ends idle keys. Timeouts are found at checkpoint batches only,
// every DefaultCheckpointInterval (10s) unless CheckpointInterval says
// otherwise: here the 2s timeout of a key last seen at 1s fires at 10s.
func ExampleTimeout() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, string]{{Key: "bob", Value: "/home"}})
	sessions, _ := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1), sessionize,
		sluice.Named("sessions"), sluice.Timeout(2*time.Second))
	sluice.ForeachBatch(sessions, printNonEmpty[string])
	j.run(12)
	// Output:
	// 10s: [bob: /home]
}

// CheckpointInterval sets how often state is checkpointed, and so how
// often MapWithState looks for timed-out keys: here every 3s.
func ExampleCheckpointInterval() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, string]{{Key: "bob", Value: "/home"}})
	sessions, _ := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1), sessionize,
		sluice.Named("sessions"), sluice.Timeout(2*time.Second), sluice.CheckpointInterval(3*time.Second))
	sluice.ForeachBatch(sessions, printNonEmpty[string])
	j.run(7)

	// The interval must be a multiple of the operator's slide.
	k := newExampleJob()
	defer k.stop()
	sluice.MapWithState(sluice.QueueStream(k.Context, q, 1), sessionize,
		sluice.Named("sessions"), sluice.CheckpointInterval(1500*time.Millisecond))
	_, msg, _ := strings.Cut(k.Err().Error(), "): ")
	fmt.Println(msg)
	// Output:
	// 6s: [bob: /home]
	// checkpoint interval 1.5s is not a positive multiple of the slide 1s
}

// State is a key's state in a MapWithState function: here a running
// count of each word, emitted at every occurrence.
func ExampleState() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"go", "go", "sql"}, []string{"go"})
	words := sluice.Map(sluice.QueueStream(j.Context, q, 1), func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	running, _ := sluice.MapWithState(words,
		func(_ time.Time, w string, one sluice.Optional[int], st *sluice.State[int]) (string, bool) {
			n, _ := st.Get()
			st.Update(n + one.Value)
			return fmt.Sprintf("%s=%d", w, n+one.Value), true
		}, sluice.Named("running-count"))
	sluice.Print(running, 10)
	j.run(2)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// go=1
	// go=2
	// sql=1
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// go=3
	//
}

// Exists tells a returning user from a new one.
func ExampleState_Exists() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, string]{{Key: "ana", Value: "/home"}}, []sluice.KV[string, string]{{Key: "ana", Value: "/cart"}, {Key: "bob", Value: "/home"}})
	greetings, _ := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1),
		func(_ time.Time, user string, _ sluice.Optional[string], st *sluice.State[bool]) (string, bool) {
			if st.Exists() {
				return "welcome back, " + user, true
			}
			st.Update(true)
			return "welcome, " + user, true
		}, sluice.Named("seen-users"))
	printEachBatch(greetings)
	j.run(2)
	// Output:
	// 1s: [welcome, ana]
	// 2s: [welcome back, ana welcome, bob]
}

// Get returns the state and whether it exists; the zero value when not.
func ExampleState_Get() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, float64]{{Key: "s1", Value: 20.5}}, []sluice.KV[string, float64]{{Key: "s1", Value: 23}, {Key: "s2", Value: 19}})
	changes, _ := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1),
		func(_ time.Time, sensor string, v sluice.Optional[float64], st *sluice.State[float64]) (string, bool) {
			prev, ok := st.Get()
			st.Update(v.Value)
			if !ok {
				return sensor + " first reading", true
			}
			return fmt.Sprintf("%s %+.1f", sensor, v.Value-prev), true
		}, sluice.Named("last-reading"))
	printEachBatch(changes)
	j.run(2)
	// Output:
	// 1s: [s1 first reading]
	// 2s: [s1 +2.5 s2 first reading]
}

// Update sets the state: here the highest bid of each auction, emitted
// when it changes.
func ExampleState_Update() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[int, int]{{Key: 7, Value: 10}, {Key: 7, Value: 8}, {Key: 7, Value: 12}})
	highest, best := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1),
		func(_ time.Time, auction int, bid sluice.Optional[int], st *sluice.State[int]) (string, bool) {
			if top, ok := st.Get(); ok && bid.Value <= top {
				return "", false
			}
			st.Update(bid.Value)
			return fmt.Sprintf("auction %d: %d", auction, bid.Value), true
		}, sluice.Named("highest-bid"))
	printEachBatchAs("new highest", highest)
	printEachBatchAs("state", best)
	j.run(1)
	// Output:
	// 1s new highest: [auction 7: 10 auction 7: 12]
	// 1s state: [{7 12}]
}

// Remove deletes the state: a logout ends the user's session at once.
func ExampleState_Remove() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue(
		[]sluice.KV[string, string]{{Key: "ana", Value: "login"}, {Key: "bob", Value: "login"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "logout"}},
	)
	_, loggedIn := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1),
		func(t time.Time, user string, ev sluice.Optional[string], st *sluice.State[int64]) (struct{}, bool) {
			switch ev.Value {
			case "login":
				st.Update(t.Unix())
			case "logout":
				st.Remove()
			}
			return struct{}{}, false
		}, sluice.Named("logins"))
	printEachBatch(loggedIn)
	j.run(2)
	// Output:
	// 1s: [{ana 1} {bob 1}]
	// 2s: [{bob 1}]
}

// IsTimingOut marks the last call for a key that timed out: no value
// came, the state can be read but not updated or removed, and is removed
// after the call.
func ExampleState_IsTimingOut() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, int]{{Key: "job-1", Value: 1}})
	heartbeats, _ := sluice.MapWithState(sluice.QueueStream(j.Context, q, 1),
		func(t time.Time, worker string, _ sluice.Optional[int], st *sluice.State[int64]) (string, bool) {
			if st.IsTimingOut() {
				last, _ := st.Get()
				return fmt.Sprintf("%s lost at %ds (last beat %ds)", worker, t.Unix(), last), true
			}
			st.Update(t.Unix())
			return "", false
		}, sluice.Named("heartbeats"), sluice.Timeout(time.Second), sluice.CheckpointInterval(time.Second))
	sluice.ForeachBatch(heartbeats, printNonEmpty[string])
	j.run(4)
	// Output:
	// 3s: [job-1 lost at 3s (last beat 1s)]
}

func ExampleState_String() {
	var st sluice.State[int] // MapWithState gives functions their keys' states
	fmt.Println(&st)
	st.Update(42)
	fmt.Println(&st)
	// Output:
	// State(none)
	// State(42)
}
