package cluster

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Malformed sessions are refused with a message saying what is wrong, and
// the driver goes on serving.
func TestMalformedSessionsRefused(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	good := &hello{Name: "w", Addr: "127.0.0.1:1", Slots: 1, Fingerprint: testFingerprint}
	with := func(edit func(h *hello)) *toDriver {
		h := *good
		edit(&h)
		return &toDriver{Hello: &h}
	}
	cases := []struct {
		name  string
		first *toDriver
		want  string
	}{
		{"heartbeat first", &toDriver{Heartbeat: &heartbeat{Running: 1}}, "the first message of a session must be a hello"},
		{"empty message", &toDriver{}, "the first message of a session must be a hello"},
		{"zero slots", with(func(h *hello) { h.Slots = 0 }), "worker offers 0 task slots (want 1..1024)"},
		{"negative slots", with(func(h *hello) { h.Slots = -5 }), "worker offers -5 task slots"},
		{"too many slots", with(func(h *hello) { h.Slots = 1025 }), "worker offers 1025 task slots"},
		{"long name", with(func(h *hello) { h.Name = strings.Repeat("n", maxNameLen+1) }), "malformed worker name or address"},
		{"long address", with(func(h *hello) { h.Addr = strings.Repeat("a", maxNameLen+1) }), "malformed worker name or address"},
		{"no address", with(func(h *hello) { h.Addr = "" }), "malformed worker name or address"},
		{"no fingerprint", with(func(h *hello) { h.Fingerprint = Fingerprint{} }), "the binaries differ"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openRaw(t, c.d.Addr())
			if err := s.Send(tc.first); err != nil {
				t.Fatal(err)
			}
			m, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Refused, tc.want) || m.Welcome != nil {
				t.Fatalf("reply %+v, want a refusal saying %q", m, tc.want)
			}
			if _, err := s.Recv(); err != io.EOF {
				t.Fatalf("after the refusal Recv = %v, want io.EOF (the session ends)", err)
			}
		})
	}
	t.Run("no message", func(t *testing.T) {
		s := openRaw(t, c.d.Addr())
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if m, err := s.Recv(); err == nil {
			t.Fatalf("Recv = %+v, want the session to fail", m)
		}
	})
	if ws := c.d.Workers(); len(ws) != 0 {
		t.Fatalf("Workers() = %+v after malformed sessions", ws)
	}

	// A name in use is refused; the first holder keeps it.
	tw := c.addWorker(func(cfg *WorkerConfig) { cfg.Name = "alpha" })
	c.waitReady(1)
	dup := c.newWorker(func(cfg *WorkerConfig) { cfg.Name = "alpha" })
	err := dup.Run(testCtx(t))
	dup.Close()
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `a worker named "alpha" is already connected`) {
		t.Fatalf("Run of a duplicate = %v, want ErrRefused naming alpha", err)
	}
	if n := tw.testName(t); n != "alpha" {
		t.Fatalf("worker name %q, want alpha", n)
	}
	c.runGroup(1, 3, 3, 2)
}

// Fetches are served in chunks and reassembled; malformed fetch requests
// fail with an error instead of being trusted.
func TestFetch(t *testing.T) {
	c := newCluster(t, DriverConfig{})
	a := c.addWorker(nil)
	b := c.addWorker(nil)
	c.waitReady(2)
	aName := a.testName(t)
	eventually(t, "b knows where a serves", func() bool {
		return b.addr(aName) == a.Addr()
	})
	ctx := testCtx(t)

	sc := c.reg.Scope(1, 1)
	src := source(sc, 2, 1, nil, nil)
	dep := &lineage.ShuffleDep{P: src, ID: lineage.ShuffleID{Child: sc.Alloc()}, Parts: 2, Bucket: ints{}}
	// Map partition 1's bucket 0 is larger than a chunk.
	big := make([]int, (chunkBytes/8)*3)
	for i := range big {
		big[i] = 1<<60 + i
	}
	a.runtime.Shuffle.Put(dep.ID, 0, []any{[]int{1, 2}, []int{3}}, ints{})
	a.runtime.Shuffle.Put(dep.ID, 1, []any{big, []int(nil)}, ints{})
	a.runtime.Shuffle.Put(dep.ID, 2, []any{[]int{}, []int{4}}, ints{})

	t.Run("shuffle", func(t *testing.T) {
		got, err := b.FetchShuffle(ctx, aName, dep, []int{0, 1, 2}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !slices.Equal(asInts(got[0]), []int{1, 2}) || !slices.Equal(asInts(got[1]), big) || len(asInts(got[2])) != 0 {
			t.Fatalf("FetchShuffle returned %d buckets, wrong contents", len(got))
		}
		got, err = b.FetchShuffle(ctx, aName, dep, []int{2, 0}, 1)
		if err != nil || len(got) != 2 || !slices.Equal(asInts(got[0]), []int{4}) || !slices.Equal(asInts(got[1]), []int{3}) {
			t.Fatalf("FetchShuffle(2, 0; reduce 1) = %v, %v", got, err)
		}
	})
	t.Run("shuffle errors", func(t *testing.T) {
		// a answers: these errors are about what was asked, not about a.
		if _, err := b.FetchShuffle(ctx, aName, dep, []int{0, 7}, 0); err == nil || !strings.Contains(err.Error(), "no output") ||
			errors.Is(err, runtime.ErrPeerUnreachable) {
			t.Errorf("fetch of a missing map partition = %v, want the store's error", err)
		}
		if _, err := b.FetchShuffle(ctx, aName, dep, []int{0}, 5); err == nil || !strings.Contains(err.Error(), "reduce partition 5") ||
			errors.Is(err, runtime.ErrPeerUnreachable) {
			t.Errorf("fetch of reduce partition 5 of 2 = %v, want an error", err)
		}
		if _, err := b.FetchShuffle(ctx, aName, dep, []int{0}, -1); err == nil {
			t.Errorf("fetch of reduce partition -1 succeeded")
		}
		if _, err := b.FetchShuffle(ctx, "nobody", dep, []int{0}, 0); err == nil || !strings.Contains(err.Error(), `unknown worker "nobody"`) ||
			!errors.Is(err, runtime.ErrPeerUnreachable) {
			t.Errorf("fetch from an unknown worker = %v, want it unreachable", err)
		}
	})
	t.Run("block", func(t *testing.T) {
		id := blockstore.ID{Dataset: src.ID, Part: 1}
		if err := a.runtime.Blocks.Put(id, big, ints{}); err != nil {
			t.Fatal(err)
		}
		v, ok, err := b.FetchBlock(ctx, aName, src, 1)
		if err != nil || !ok || !slices.Equal(asInts(v), big) {
			t.Fatalf("FetchBlock = %d ints, %v, %v; want the big block", len(asInts(v)), ok, err)
		}
		v, ok, err = b.FetchBlock(ctx, aName, src, 0)
		if err != nil || ok || v != nil {
			t.Fatalf("FetchBlock of a missing block = %v, %v, %v; want not found", v, ok, err)
		}
	})

	// Requests a well-behaved worker never sends.
	cc, err := security().Dial(a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	fetch := func(req *fetchReq) ([]*chunk, error) {
		recv, err := rpc.CallStream[fetchReq, chunk](ctx, cc, workerService, "Fetch", req)
		if err != nil {
			return nil, err
		}
		var out []*chunk
		for {
			c, err := recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, c)
		}
	}
	blk := blockstore.ID{Dataset: src.ID, Part: 1}
	bad := []struct {
		name string
		req  *fetchReq
		want string
	}{
		{"shuffle and block", &fetchReq{Shuffle: &dep.ID, MapParts: []int{0}, Block: &blk}, "a fetch names a shuffle or a block"},
		{"neither", &fetchReq{MapParts: []int{0}}, "a fetch names a shuffle or a block"},
		{"too many parts", &fetchReq{Shuffle: &dep.ID, MapParts: make([]int, maxFetchParts+1)}, fmt.Sprintf("fetch of %d map partitions (limit %d)", maxFetchParts+1, maxFetchParts)},
		{"negative map partition", &fetchReq{Shuffle: &dep.ID, MapParts: []int{-1}}, "fetch of map partition -1"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) || len(got) != 0 {
				t.Fatalf("fetch = %d chunks, %v; want an error saying %q", len(got), err, tc.want)
			}
		})
	}
	// The worker still serves.
	if got, err := fetch(&fetchReq{Shuffle: &dep.ID, MapParts: []int{0}, Reduce: 1}); err != nil || len(got) != 1 || !got[0].Last {
		t.Fatalf("fetch after bad ones = %+v, %v", got, err)
	}
}

func TestReceiveChunks(t *testing.T) {
	feed := func(msgs ...any) func() (*chunk, error) {
		return func() (*chunk, error) {
			if len(msgs) == 0 {
				return nil, io.EOF
			}
			m := msgs[0]
			msgs = msgs[1:]
			if err, ok := m.(error); ok {
				return nil, err
			}
			return m.(*chunk), nil
		}
	}
	out, missing, err := receiveChunks(feed(&chunk{Index: 0, Data: []byte("ab")}, &chunk{Index: 0, Data: []byte("c"), Last: true},
		&chunk{Index: 1, Last: true}, &chunk{Index: 2, Data: []byte("d"), Last: true}), 3)
	if err != nil || missing >= 0 || string(out[0]) != "abc" || len(out[1]) != 0 || string(out[2]) != "d" {
		t.Fatalf("receiveChunks = %q, %v, %v", out, missing, err)
	}
	if out, missing, err := receiveChunks(feed(), 0); err != nil || missing >= 0 || len(out) != 0 {
		t.Fatalf("receiveChunks of nothing = %q, %v, %v", out, missing, err)
	}
	if _, missing, err := receiveChunks(feed(&chunk{Missing: true, Last: true}), 1); err != nil || missing != 0 {
		t.Fatalf("missing: %v, err %v; want item 0 not found", missing, err)
	}
	if _, missing, err := receiveChunks(feed(&chunk{Index: 0, Last: true}, &chunk{Index: 1, Missing: true, Last: true}), 3); err != nil || missing != 1 {
		t.Fatalf("missing second: %v, err %v; want item 1 not found", missing, err)
	}
	bad := []struct {
		name string
		msgs []any
		want string
	}{
		{"early end", []any{&chunk{Index: 0, Last: true}}, "fetch ended after 1 of 2 items"},
		{"skipped item", []any{&chunk{Index: 1, Last: true}}, "fetch sent item 1, expected 0"},
		{"negative index", []any{&chunk{Index: -1}}, "fetch sent item -1, expected 0"},
		{"item again", []any{&chunk{Index: 0, Last: true}, &chunk{Index: 0, Last: true}}, "fetch sent item 0, expected 1"},
		{"stream error", []any{&chunk{Index: 0, Data: []byte("x")}, errTest}, errTest.Error()},
	}
	for _, tc := range bad {
		if _, _, err := receiveChunks(feed(tc.msgs...), 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The driver serves input plans to workers.
func TestPlan(t *testing.T) {
	c := newCluster(t, DriverConfig{Plans: func(node int32, t int64) ([]byte, bool) {
		if node == 3 && t == 42 {
			return []byte("plan"), true
		}
		return nil, false
	}})
	w := c.newWorker(nil)
	defer w.Close()
	ctx := testCtx(t)
	if b, err := w.Plan(ctx, 3, 42); err != nil || string(b) != "plan" {
		t.Fatalf("Plan(3, 42) = %q, %v", b, err)
	}
	if _, err := w.Plan(ctx, 3, 43); err == nil || !strings.Contains(err.Error(), "no plan for input node 3 at 43") {
		t.Fatalf("Plan(3, 43) = %v, want no plan", err)
	}
}

// Task descriptors and results survive the wire; malformed ones are
// refused or read as harmless values.
func TestWireConversions(t *testing.T) {
	sid := lineage.ShuffleID{Child: lineage.ID{Node: 1, Time: 2, Seq: 3}, Index: 1}
	bid := blockstore.ID{Dataset: lineage.ID{Node: 1, Time: 2, Seq: 1}, Part: 4}
	d := &runtime.TaskDesc{Task: scheduler.Task{Stage: 2, Partition: 3, Attempt: 1}, Dataset: bid.Dataset, Shuffle: &sid,
		Action:      runtime.Action{Kind: runtime.ActTake, N: 5, Node: 7},
		ShuffleLocs: map[lineage.ShuffleID][]string{sid: {"a", "", "b"}},
		BlockLocs:   map[blockstore.ID][]string{bid: {"b"}}, BatchTime: 99,
		Cuts: []runtime.Cut{{ID: bid.Dataset, NumParts: 2}}}
	b, err := rpc.Marshal(&toWorker{Launch: toWire(d)})
	if err != nil {
		t.Fatal(err)
	}
	var m toWorker
	if err := rpc.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	got, err := fromWire(m.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", *d) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, *d)
	}
	for _, w := range []*taskWire{
		{Task: scheduler.Task{Partition: -1}},
		{N: -1},
		{Kind: runtime.ActOutput + 1},
	} {
		if _, err := fromWire(w); err == nil {
			t.Errorf("fromWire(%+v) accepted a malformed task", w)
		}
	}

	task := scheduler.Task{Stage: 1, Partition: 2}
	results := []struct {
		in   runtime.TaskResult
		want runtime.TaskResult
	}{
		{runtime.TaskResult{Task: task, Value: int64(7)}, runtime.TaskResult{Task: task, Worker: "w", Value: int64(7)}},
		{runtime.TaskResult{Task: task, Value: []int{1, 2}, ValueType: ints{}, Shipped: true, Records: 2},
			runtime.TaskResult{Task: task, Worker: "w", Value: runtime.Encoded(ints{}.Encode(nil, []int{1, 2})), Shipped: true, Records: 2}},
		{runtime.TaskResult{Task: task, Err: errTest, Duration: 5}, runtime.TaskResult{Task: task, Worker: "w", Err: errTest, Duration: 5}},
	}
	for _, tc := range results {
		b, err := rpc.Marshal(&toDriver{Result: resultToWire(tc.in)})
		if err != nil {
			t.Fatal(err)
		}
		var m toDriver
		if err := rpc.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		got := resultFromWire("w", m.Result)
		if fmt.Sprintf("%v %v %v %v %v %v", got.Task, got.Worker, got.Value, got.Shipped, got.Records, got.Duration) !=
			fmt.Sprintf("%v %v %v %v %v %v", tc.want.Task, tc.want.Worker, tc.want.Value, tc.want.Shipped, tc.want.Records, tc.want.Duration) ||
			fmt.Sprint(got.Err) != fmt.Sprint(tc.want.Err) {
			t.Errorf("result round trip:\n got %+v\nwant %+v", got, tc.want)
		}
	}
	// A failed fetch keeps what the driver needs to recompute the map output.
	fe := &runtime.FetchError{Shuffle: sid, MapPart: 3, Worker: "b", Err: errTest}
	fr := resultFromWire("a", resultToWire(runtime.TaskResult{Task: task, Err: fe}))
	var gotFE *runtime.FetchError
	if !errors.As(fr.Err, &gotFE) || gotFE.Shuffle != sid || gotFE.MapPart != 3 || gotFE.Worker != "b" ||
		errors.Is(fr.Err, runtime.ErrPeerUnreachable) {
		t.Fatalf("fetch failure came back as %#v", fr.Err)
	}
	// So does one that could not reach its peer: the driver loses all the
	// peer's outputs.
	fe.Err = fmt.Errorf("%w: connection refused", runtime.ErrPeerUnreachable)
	fr = resultFromWire("a", resultToWire(runtime.TaskResult{Task: task, Err: fe}))
	if !errors.As(fr.Err, &gotFE) || gotFE.MapPart != 3 || !errors.Is(fr.Err, runtime.ErrPeerUnreachable) {
		t.Fatalf("unreachable fetch failure came back as %#v", fr.Err)
	}
	if r := resultFromWire("a", &resultWire{Task: task, Nanos: -5}); r.Duration != 0 {
		t.Fatalf("negative duration read as %v", r.Duration)
	}
}

// A result's shuffle bytes and figures cross the wire; malformed figures
// and those beyond the limit are dropped, not fatal.
func TestResultFiguresOnTheWire(t *testing.T) {
	good := lineage.Figure{Key: "state/s/keys", Time: 5, Part: 1, Parts: 2, Value: 7}
	in := runtime.TaskResult{Task: scheduler.Task{Job: 1, Stage: 2}, ShuffleWriteBytes: 100, ShuffleReadBytes: 50,
		Figures: []lineage.Figure{good, {Key: "", Parts: 1}, {Key: "x", Part: 3, Parts: 2}, {Key: "x", Part: -1, Parts: 2},
			{Key: strings.Repeat("k", runtime.MaxFigureKey+1), Parts: 1}}}
	b, err := rpc.Marshal(&toDriver{Result: resultToWire(in)})
	if err != nil {
		t.Fatal(err)
	}
	var m toDriver
	if err := rpc.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	got := resultFromWire("w", m.Result)
	if got.ShuffleWriteBytes != 100 || got.ShuffleReadBytes != 50 || len(got.Figures) != 1 || got.Figures[0] != good {
		t.Fatalf("got %+v", got)
	}
	many := make([]lineage.Figure, runtime.MaxFigures+10)
	for i := range many {
		many[i] = good
	}
	if r := resultFromWire("w", &resultWire{Figures: many, WriteBytes: -3}); len(r.Figures) != runtime.MaxFigures || r.ShuffleWriteBytes != 0 {
		t.Fatalf("%d figures, %d bytes", len(r.Figures), r.ShuffleWriteBytes)
	}
}

func TestReceiverWireCheck(t *testing.T) {
	for _, r := range []float64{0, 1, 1500.5, maxReceiverRate} {
		if err := (&receiverWire{Rate: r}).check(); err != nil {
			t.Errorf("rate %v refused: %v", r, err)
		}
	}
	for _, r := range []float64{-1, math.NaN(), math.Inf(1), 2 * maxReceiverRate} {
		if err := (&receiverWire{Rate: r}).check(); err == nil {
			t.Errorf("rate %v accepted", r)
		}
	}
}
