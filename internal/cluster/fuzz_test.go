package cluster

import (
	"context"
	"io"
	"testing"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/scheduler"
)

// Fuzz targets for every message a peer can send. Each decodes arbitrary
// bytes as the codec does and, when that succeeds, passes the message
// through the code that receives it; none may panic. A decoded message
// must also encode again (the receiver may forward or log it).

func seed(f *testing.F, msgs ...any) {
	f.Helper()
	for _, m := range msgs {
		b, err := rpc.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
}

func reencode[T any](t *testing.T, m *T) {
	b, err := rpc.Marshal(m)
	if err != nil {
		t.Fatalf("a decoded %T does not encode: %v", m, err)
	}
	if err := rpc.Unmarshal(b, new(T)); err != nil {
		t.Fatalf("a re-encoded %T does not decode: %v", m, err)
	}
}

var (
	fuzzShuffle = lineage.ShuffleID{Child: lineage.ID{Node: 1, Time: 1, Seq: 2}}
	fuzzBlock   = blockstore.ID{Dataset: lineage.ID{Node: 1, Time: 1, Seq: 1}, Part: 0}
	fuzzTask    = scheduler.Task{Job: 1, Stage: 2, Partition: 3, Attempt: 1}
)

func FuzzToDriver(f *testing.F) {
	seed(f,
		&toDriver{Hello: &hello{Name: "w", Addr: "127.0.0.1:1", Slots: 2, PID: 7, Fingerprint: testFingerprint}},
		&toDriver{Heartbeat: &heartbeat{Blocks: 1, Shuffles: 2, MemoryBytes: 3, SpilledBytes: 4, Running: 5}},
		&toDriver{Result: resultToWire(runtime.TaskResult{Task: fuzzTask, Value: int64(9)})},
		&toDriver{Result: resultToWire(runtime.TaskResult{Task: fuzzTask, Value: int64(1), ShuffleWriteBytes: 9,
			Figures: []lineage.Figure{{Key: "state/s/keys", Time: 1, Part: 0, Parts: 1, Value: 3}}})},
		&toDriver{Result: resultToWire(runtime.TaskResult{Task: fuzzTask, Value: []int{1, 2}, ValueType: ints{}, Shipped: true, Cached: []blockstore.ID{fuzzBlock}})},
		&toDriver{Result: resultToWire(runtime.TaskResult{Task: fuzzTask, Err: &runtime.FetchError{Shuffle: fuzzShuffle, MapPart: 1, Worker: "b", Err: errTest}})},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m toDriver
		if rpc.Unmarshal(b, &m) != nil {
			return
		}
		reencode(t, &m)
		d := &Driver{cfg: DriverConfig{Fingerprint: testFingerprint, SendQueue: 1}, sessions: make(map[string]*session), joined: make(chan struct{})}
		if s, refusal := d.admit(m.Hello, func(error) {}); (s == nil) == (refusal == "") {
			t.Fatalf("admit = %v, %q: want exactly one", s, refusal)
		} else if s != nil && (s.slots < 1 || len(s.name) > maxNameLen || s.addr == "") {
			t.Fatalf("admitted a malformed hello %+v", m.Hello)
		}
		if m.Result != nil {
			r := resultFromWire("w", m.Result)
			if r.Duration < 0 || r.ShuffleWriteBytes < 0 || r.ShuffleReadBytes < 0 || len(r.Figures) > runtime.MaxFigures {
				t.Fatalf("malformed result %+v", r)
			}
			if r.Err != nil {
				_ = r.Err.Error()
			}
		}
	})
}

func FuzzToWorker(f *testing.F) {
	d := &runtime.TaskDesc{Task: fuzzTask, Dataset: fuzzBlock.Dataset, Shuffle: &fuzzShuffle,
		Action:      runtime.Action{Kind: runtime.ActTake, N: 2},
		ShuffleLocs: map[lineage.ShuffleID][]string{fuzzShuffle: {"a", "b"}},
		BlockLocs:   map[blockstore.ID][]string{fuzzBlock: {"a"}}, BatchTime: 5,
		Cuts: []runtime.Cut{{ID: fuzzBlock.Dataset, NumParts: 2}}}
	seed(f,
		&toWorker{Receiver: &receiverWire{Node: 2, Incarnation: 1, ReplicateTo: []string{"a"}}},
		&toWorker{Receiver: &receiverWire{Node: 2, Stop: true}},
		&toWorker{Receiver: &receiverWire{Node: 2, Incarnation: 1, ReplicateTo: []string{"a"}, Rate: 1500}},
		&toWorker{Welcome: &welcome{Name: "worker-1", First: 10, Heartbeat: 250e6}},
		&toWorker{Refused: "no"},
		&toWorker{Launch: toWire(d)},
		&toWorker{Cancel: &fuzzTask},
		&toWorker{Free: []lineage.ID{fuzzBlock.Dataset}},
		&toWorker{Peers: map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2"}},
		&toWorker{Stop: true},
		&toWorker{First: 42},
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m toWorker
		if rpc.Unmarshal(b, &m) != nil {
			return
		}
		reencode(t, &m)
		if m.Welcome != nil && durationOf(m.Welcome.Heartbeat) < 0 {
			t.Fatal("negative heartbeat")
		}
		if m.Launch != nil {
			if d, err := fromWire(m.Launch); err == nil {
				if d.Task.Partition < 0 || d.Action.N < 0 || d.Action.Kind > runtime.ActOutput || d.ShuffleLocs == nil || d.BlockLocs == nil {
					t.Fatalf("fromWire accepted %+v", d)
				}
				_ = toWire(d)
			}
		}
		if m.Receiver != nil && m.Receiver.check() == nil {
			if r := m.Receiver.Rate; r < 0 || r > maxReceiverRate || r != r {
				t.Fatalf("check accepted rate %v", r)
			}
		}
		w := &Worker{peerClient: newPeerClient(rpc.Security{})}
		w.set(map[string]string{"a": "x"})
		if m.Peers != nil {
			w.setPeers(m.Peers)
		}
	})
}

func FuzzFetchReq(f *testing.F) {
	seed(f,
		&fetchReq{Shuffle: &fuzzShuffle, MapParts: []int{0, 1}, Reduce: 1},
		&fetchReq{Shuffle: &fuzzShuffle, MapParts: []int{1}, Reduce: 0},
		&fetchReq{Block: &fuzzBlock},
		&fetchReq{Block: &blockstore.ID{Dataset: fuzzBlock.Dataset, Part: 9}},
		&fetchReq{Shuffle: &fuzzShuffle, Block: &fuzzBlock},
	)
	rw := runtime.NewWorker(runtime.WorkerConfig{Slots: 1, Logger: quiet}, registry{lineage.NewRegistry()}, nil, func(runtime.TaskResult) {})
	f.Cleanup(rw.Close)
	rw.Shuffle.Put(fuzzShuffle, 0, []any{[]int{1}, []int{2, 3}}, ints{})
	rw.Shuffle.Put(fuzzShuffle, 1, []any{[]int(nil), []int{4}}, ints{})
	if err := rw.Blocks.Put(fuzzBlock, []int{5, 6}, ints{}); err != nil {
		f.Fatal(err)
	}
	w := &Worker{runtime: rw}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req fetchReq
		if rpc.Unmarshal(b, &req) != nil {
			return
		}
		reencode(t, &req)
		var sent []*chunk
		err := w.serveFetch(context.Background(), &req, func(c *chunk) error {
			sent = append(sent, c)
			return nil
		})
		if err != nil {
			return
		}
		// What the worker sends, its peer reassembles.
		n := 1
		if req.Shuffle != nil {
			n = len(req.MapParts)
		}
		recv := func() (*chunk, error) {
			if len(sent) == 0 {
				return nil, io.EOF
			}
			c := sent[0]
			sent = sent[1:]
			return c, nil
		}
		if out, missing, err := receiveChunks(recv, n); err != nil || (missing < 0 && len(out) != n) {
			t.Fatalf("the reply to %+v does not reassemble: %d items, missing %d, %v", req, len(out), missing, err)
		}
	})
}

func FuzzChunk(f *testing.F) {
	for _, cs := range [][]chunk{
		{{Index: 0, Data: []byte("ab"), Last: true}},
		{{Index: 0, Data: []byte("a")}, {Index: 0, Data: []byte("b"), Last: true}, {Index: 1, Last: true}},
		{{Missing: true, Last: true}},
		{{Index: 1, Last: true}},
	} {
		b, err := rpc.Marshal(cs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(len(cs)))
		one, _ := rpc.Marshal(&cs[0])
		f.Add(one, uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		var cs []chunk
		if rpc.Unmarshal(b, &cs) != nil {
			var c chunk // a single chunk, repeated
			if rpc.Unmarshal(b, &c) != nil {
				return
			}
			cs = []chunk{c, c, c}
		}
		reencode(t, &cs)
		want := int(n % 8)
		recv := func() (*chunk, error) {
			if len(cs) == 0 {
				return nil, io.EOF
			}
			c := cs[0]
			cs = cs[1:]
			return &c, nil
		}
		out, missing, err := receiveChunks(recv, want)
		if err == nil && missing < 0 && len(out) != want {
			t.Fatalf("receiveChunks returned %d items, want %d", len(out), want)
		}
		if err == nil && missing >= want {
			t.Fatalf("receiveChunks says item %d of %d is missing", missing, want)
		}
		if err != nil && (missing >= 0 || out != nil) {
			t.Fatalf("receiveChunks failed with results: %v %v", missing, out)
		}
	})
}

func FuzzPlanReq(f *testing.F) {
	seed(f, &planReq{Node: 3, Time: 42}, &planReq{Node: -1, Time: -1})
	d := &Driver{cfg: DriverConfig{Plans: func(node int32, t int64) ([]byte, bool) {
		if node == 3 && t == 42 {
			return []byte("plan"), true
		}
		return nil, false
	}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req planReq
		if rpc.Unmarshal(b, &req) != nil {
			return
		}
		reencode(t, &req)
		resp, err := d.plan(context.Background(), &req)
		if err != nil || resp == nil || resp.Found != (req.Node == 3 && req.Time == 42) {
			t.Fatalf("plan(%+v) = %+v, %v", req, resp, err)
		}
		reencode(t, resp)
	})
}

// planResp has no checks of its own: a worker uses Data only when Found,
// and the plan's own decoder (elsewhere) validates it.
func FuzzPlanResp(f *testing.F) {
	seed(f, &planResp{Data: []byte("plan"), Found: true}, &planResp{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp planResp
		if rpc.Unmarshal(b, &resp) != nil {
			return
		}
		reencode(t, &resp)
	})
}

// FuzzBlockReport feeds block reports to the driver: malformed ones are
// refused by check, the others by the runtime (no receiver runs here).
func FuzzBlockReport(f *testing.F) {
	seed(f, &blockWire{Worker: "w", Node: 2, Incarnation: 1, ID: runtime.ReceivedID(2, 1, 5), Records: 3, Workers: []string{"w", "v"}},
		&blockWire{Worker: "w", Node: 2, Stopped: true}, &blockWire{Worker: "w", Source: "HTTPText", Error: "line 2"},
		&blockWire{Worker: "nobody", Records: -1})
	d := &Driver{sessions: map[string]*session{"w": {name: "w"}}, Runtime: runtime.NewDriver(runtime.Config{}, nil)}
	f.Cleanup(d.Runtime.Close)
	f.Fuzz(func(t *testing.T, b []byte) {
		var req blockWire
		if rpc.Unmarshal(b, &req) != nil {
			return
		}
		reencode(t, &req)
		if _, err := d.block(context.Background(), &req); err == nil {
			t.Fatalf("block(%+v) was accepted with no receiver running", req)
		}
	})
}
