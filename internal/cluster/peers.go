package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/shuffle"
)

// maxFetchParts bounds the map partitions one fetch may ask for, and
// maxItemBytes the size of one fetched bucket or block.
const (
	maxFetchParts = 1 << 16
	maxItemBytes  = 1 << 30
)

// serveFetch streams shuffle buckets or a block to another worker, each
// cut into chunks of at most chunkBytes.
func (w *Worker) serveFetch(_ context.Context, req *fetchReq, send func(*chunk) error) (err error) {
	defer func() { // a codec refusing a record type must not end the process
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: serving a fetch: %v", r)
		}
	}()
	switch {
	case req.Shuffle != nil && req.Block == nil:
		w.FailurePoint(PointFetch) // a testing aid (failpoint.go)
		if len(req.MapParts) > maxFetchParts {
			return fmt.Errorf("cluster: fetch of %d map partitions (limit %d)", len(req.MapParts), maxFetchParts)
		}
		var buf []byte
		for i, m := range req.MapParts {
			if m < 0 || req.Reduce < 0 {
				return fmt.Errorf("cluster: fetch of map partition %d, reduce partition %d", m, req.Reduce)
			}
			var err error
			if buf, err = w.runtime.Shuffle.Encoded(buf[:0], *req.Shuffle, m, req.Reduce); errors.Is(err, shuffle.ErrNoOutput) {
				// Say which output is missing: only it must be redone.
				return send(&chunk{Index: i, Missing: true, Last: true})
			} else if err != nil {
				return err
			}
			if err := sendChunks(i, buf, send); err != nil {
				return err
			}
			w.served.Add(int64(len(buf)))
		}
		return nil
	case req.Block != nil && req.Shuffle == nil:
		b, ok, err := w.runtime.Blocks.Encoded(*req.Block)
		if err != nil {
			return err
		}
		if !ok {
			return send(&chunk{Missing: true, Last: true})
		}
		w.served.Add(int64(len(b)))
		return sendChunks(0, b, send)
	}
	return errors.New("cluster: a fetch names a shuffle or a block")
}

func sendChunks(index int, b []byte, send func(*chunk) error) error {
	for {
		n := min(len(b), chunkBytes)
		if err := send(&chunk{Index: index, Data: b[:n], Last: n == len(b)}); err != nil {
			return err
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
}

// receiveChunks reassembles n items from a fetch stream. missing is the
// index of an item the sender does not have (the stream ends there), or -1.
func receiveChunks(recv func() (*chunk, error), n int) (items [][]byte, missing int, err error) {
	out := make([][]byte, n)
	done := 0
	for done < n {
		c, err := recv()
		if err == io.EOF {
			return nil, -1, fmt.Errorf("cluster: fetch ended after %d of %d items", done, n)
		}
		if err != nil {
			return nil, -1, err
		}
		if c.Index != done {
			return nil, -1, fmt.Errorf("cluster: fetch sent item %d, expected %d", c.Index, done)
		}
		if c.Missing {
			return nil, done, nil
		}
		if len(out[done])+len(c.Data) > maxItemBytes {
			return nil, -1, fmt.Errorf("cluster: fetched item %d is over %d bytes", done, maxItemBytes)
		}
		out[done] = append(out[done], c.Data...)
		if c.Last {
			done++
		}
	}
	return out, -1, nil
}

// peerClient fetches shuffle buckets and blocks from workers by name
// (runtime.Peers), over one cached connection per worker.
type peerClient struct {
	sec     rpc.Security
	mu      sync.Mutex
	addrs   map[string]string // name -> address
	conns   map[string]*grpc.ClientConn
	fetched atomic.Int64 // bytes fetched
}

func newPeerClient(sec rpc.Security) *peerClient {
	return &peerClient{sec: sec, addrs: make(map[string]string), conns: make(map[string]*grpc.ClientConn)}
}

// set replaces the known workers, closing connections to those gone or
// moved.
func (w *peerClient) set(p map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, c := range w.conns {
		if p[name] != w.addrs[name] {
			c.Close()
			delete(w.conns, name)
		}
	}
	w.addrs = p
}

// addr returns a worker's address.
func (w *peerClient) addr(name string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addrs[name]
}

// conn returns a connection to a peer worker.
func (w *peerClient) conn(name string) (*grpc.ClientConn, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	addr, ok := w.addrs[name]
	if !ok {
		return nil, "", fmt.Errorf("cluster: unknown worker %q", name)
	}
	if c := w.conns[name]; c != nil {
		return c, addr, nil
	}
	c, err := w.sec.Dial(addr)
	if err != nil {
		return nil, "", err
	}
	w.conns[name] = c
	return c, addr, nil
}

func (w *peerClient) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, c := range w.conns {
		c.Close()
		delete(w.conns, name)
	}
}

// FetchShuffle implements runtime.Peers: one call for all the buckets
// this reduce partition needs from worker.
func (w *peerClient) FetchShuffle(ctx context.Context, worker string, dep *lineage.ShuffleDep, mapParts []int, reduce int) ([]any, error) {
	cc, addr, err := w.conn(worker)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrPeerUnreachable, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	id := dep.ID
	recv, err := rpc.CallStream[fetchReq, chunk](ctx, cc, workerService, "Fetch", &fetchReq{Shuffle: &id, MapParts: mapParts, Reduce: reduce})
	if err != nil {
		return nil, peerError(err, addr)
	}
	raw, missing, err := receiveChunks(recv, len(mapParts))
	if err != nil {
		return nil, peerError(err, addr)
	}
	if missing >= 0 {
		return nil, &runtime.MissingOutput{MapPart: mapParts[missing], Err: fmt.Errorf("%s holds no output of %v map partition %d", worker, id, mapParts[missing])}
	}
	out := make([]any, len(raw))
	for i, b := range raw {
		w.fetched.Add(int64(len(b)))
		if out[i], err = dep.Bucket.Decode(b); err != nil {
			return nil, fmt.Errorf("cluster: bucket of %v map partition %d from %s: %w", id, mapParts[i], worker, err)
		}
	}
	return out, nil
}

// peerError explains err, the error of a fetch from the peer at addr, and
// says runtime.ErrPeerUnreachable when the peer could not be reached or
// the connection broke before it answered (gRPC's Unavailable: refused,
// reset, closed), so that the driver loses every output the peer holds at
// once. Other errors (the peer's own, a malformed stream) concern what was
// asked, not the peer.
func peerError(err error, addr string) error {
	explained := rpc.Explain(err, addr)
	if status.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w: %w", runtime.ErrPeerUnreachable, explained)
	}
	return explained
}

// FetchBlock implements runtime.Peers.
func (w *peerClient) FetchBlock(ctx context.Context, worker string, ds *lineage.Dataset, p int) (any, bool, error) {
	cc, addr, err := w.conn(worker)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	id := blockstore.ID{Dataset: ds.ID, Part: p}
	recv, err := rpc.CallStream[fetchReq, chunk](ctx, cc, workerService, "Fetch", &fetchReq{Block: &id})
	if err != nil {
		return nil, false, rpc.Explain(err, addr)
	}
	raw, missing, err := receiveChunks(recv, 1)
	if err != nil || missing >= 0 {
		return nil, false, err
	}
	w.fetched.Add(int64(len(raw[0])))
	v, err := ds.Type.Decode(raw[0])
	if err != nil {
		return nil, false, fmt.Errorf("cluster: block %v from %s: %w", id, worker, err)
	}
	return v, true, nil
}

// Replicate implements runtime.Peers: the block goes, encoded, to the
// worker's PutBlock (one message: a block over the RPC message limit is
// not replicated, and the call says so).
func (w *peerClient) Replicate(ctx context.Context, worker string, ds *lineage.Dataset, p int, part any) error {
	cc, addr, err := w.conn(worker)
	if err != nil {
		return err
	}
	b, err := runtime.SafeEncode(ds.Type, part)
	if err != nil {
		return err
	}
	_, err = rpc.Call[putBlock, putBlockResp](ctx, cc, workerService, "PutBlock", &putBlock{ID: blockstore.ID{Dataset: ds.ID, Part: p}, Data: b})
	if err != nil {
		return rpc.Explain(err, addr)
	}
	return nil
}

// servePutBlock stores a copy of a block another worker sent.
func (w *Worker) servePutBlock(_ context.Context, req *putBlock) (*putBlockResp, error) {
	if req.ID.Part < 0 {
		return nil, fmt.Errorf("cluster: block %v has a negative partition", req.ID)
	}
	ds, err := w.cfg.Graph.Lookup(req.ID.Dataset)
	if err != nil {
		return nil, err
	}
	if req.ID.Part >= ds.NumParts {
		return nil, fmt.Errorf("cluster: %v has no partition %d", ds, req.ID.Part)
	}
	if err := w.runtime.Blocks.PutEncoded(req.ID, req.Data, ds.Type); err != nil {
		return nil, err
	}
	return &putBlockResp{}, nil
}
