package sluice

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/ratecontrol"
	"github.com/sluicehq/sluice/internal/runtime"
)

// MaxLineBytes bounds a line read by SocketText and TextFiles; a longer
// line is reported and skipped.
const MaxLineBytes = 1 << 20

// DefaultBlockInterval is how often a receiver cuts the records it
// received into a block (see BlockInterval); each block is one partition
// of its batch.
const DefaultBlockInterval = 200 * time.Millisecond

// reportInput logs an input error that a source skipped, and tells the
// OnError function.
func (c *Context) reportInput(source string, err error) {
	c.cfg.logger.Warn("input skipped", "source", source, "err", err)
	if c.cfg.onError != nil {
		c.cfg.onError(fmt.Errorf("sluice: %s: %w", source, err))
	}
}

// intake collects what a push receiver reads into blocks: the receiver
// cuts one every block interval, stores it (on its worker and a second
// one, and in the write-ahead log if on) and registers it with the
// driver; then it acknowledges the records of the block.
type intake[T any] struct {
	// report tells the driver about an input error (OnError).
	report func(source string, err error)
	// lim holds the intake to the rate the driver gives the receiver
	// (backpressure, MaxRate): SocketText waits on it, HTTPText refuses
	// what it cannot take.
	lim    *ratecontrol.Limiter
	mu     sync.Mutex
	cur    []T
	ack    *blockAck // the current block's acknowledgement
	closed bool
}

// blockAck is closed once a block is stored (err nil) or failed.
type blockAck struct {
	done chan struct{}
	err  error
}

func newAck() *blockAck { return &blockAck{done: make(chan struct{})} }

func (a *blockAck) finish(err error) {
	a.err = err
	close(a.done)
}

// wait blocks until the block is stored or ctx is done.
func (a *blockAck) wait(ctx context.Context) error {
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errReceiverStopped acknowledges records offered after the receiver
// stopped: they are not taken.
var errReceiverStopped = errors.New("sluice: the receiver is stopping")

// add takes records without an acknowledgement (a source with no way to
// acknowledge, like a plain socket).
func (in *intake[T]) add(x T) {
	in.mu.Lock()
	if !in.closed {
		in.cur = append(in.cur, x)
	}
	in.mu.Unlock()
}

// addAll takes records, all into one block, and returns that block's
// acknowledgement.
func (in *intake[T]) addAll(xs []T) *blockAck {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		a := newAck()
		a.finish(errReceiverStopped)
		return a
	}
	in.cur = append(in.cur, xs...)
	return in.ack
}

// cut returns the current block and its acknowledgement, and starts the
// next; last refuses records from then on.
func (in *intake[T]) cut(last bool) ([]T, *blockAck) {
	in.mu.Lock()
	defer in.mu.Unlock()
	b, a := in.cur, in.ack
	in.cur, in.ack = nil, newAck()
	in.closed = in.closed || last
	return b, a
}

// recvInput is a push receiver's input tracker, on the driver: the blocks
// registered since the last batch, and each batch's blocks, kept as long
// as a recomputation may read them.
type recvInput struct {
	mu      sync.Mutex
	pending []blockRef
	byBatch map[int64][]lineage.ID
	// taken is the latest batch that took pending blocks.
	taken int64
}

// blockRef is a received block in a batch's plan: its ID (with the input
// node's) and record count.
type blockRef struct {
	Inc     int32
	Time    int64
	Records int64
}

func (r blockRef) id(node int32) lineage.ID { return runtime.ReceivedID(node, r.Inc, r.Time) }

// take gives batch t the blocks registered since the last batch.
func (ri *recvInput) take(node int32, t time.Time) []blockRef {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	refs := ri.pending
	ri.pending = nil
	ids := make([]lineage.ID, len(refs))
	for i, r := range refs {
		ids[i] = r.id(node)
	}
	ri.byBatch[t.UnixNano()] = ids
	if len(refs) > 0 {
		ri.taken = t.UnixNano()
	}
	return refs
}

// drop forgets the blocks of batches before t and returns their IDs.
func (ri *recvInput) drop(t int64) []lineage.ID {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	var out []lineage.ID
	for bt, ids := range ri.byBatch {
		if bt < t {
			out = append(out, ids...)
			delete(ri.byBatch, bt)
		}
	}
	return out
}

// onBlock is the driver's input tracker (runtime.Config.OnBlock): a
// receiver registered a block.
func (c *Context) onBlock(rep runtime.BlockReport) {
	n := c.nodeByID(rep.Node)
	if n == nil || n.recv == nil {
		return
	}
	if rep.Error != "" {
		c.reportInput(rep.Source, errors.New(rep.Error))
		return
	}
	n.recv.mu.Lock()
	n.recv.pending = append(n.recv.pending, blockRef{Inc: rep.Incarnation, Time: rep.ID.Time, Records: int64(rep.Records)})
	n.recv.mu.Unlock()
	c.received.Add(int64(rep.Records))
}

// ReceivedRecords returns how many records the push receivers (SocketText,
// HTTPText) have stored so far: acknowledged, and processed by the batch
// after their block was stored.
func (c *Context) ReceivedRecords() int64 { return c.received.Load() }

// receivedDataset is the one-partition dataset of a received block. Its
// partition lives in block stores; if every copy is lost it is read from
// the write-ahead log, or else it is lost.
func (c *Context) receivedDataset(id lineage.ID) (*lineage.Dataset, error) {
	n := c.nodeByID(id.Node)
	if n == nil || n.recv == nil {
		return nil, fmt.Errorf("sluice: block %v: graph node %d is not a receiver", id, id.Node)
	}
	d := lineage.New(id, n.kind+" block", n.rtype, 1, func(tc lineage.TaskContext, _ int) (any, error) {
		if c.ck != nil && c.cfg.wal {
			b, err := c.ck.store.Get(tc.Context(), c.walKey(n, id))
			if err != nil {
				return nil, fmt.Errorf("%w: block %v of %s#%d, and its write-ahead log: %w", runtime.ErrBlockLost, id, n.kind, n.id, err)
			}
			return n.rtype.Decode(b)
		}
		return nil, fmt.Errorf("%w: block %v of %s#%d: every worker holding it died, and there is no write-ahead log (see WriteAheadLog)",
			runtime.ErrBlockLost, id, n.kind, n.id)
	})
	d.Persist()
	return d, nil
}

// walKey is where the write-ahead log keeps a received block.
func (c *Context) walKey(n *node, id lineage.ID) string {
	return fmt.Sprintf("wal/%s/%020d-%010d", escapeKey(c.inputKeys()[n]), id.Time, runtime.ReceivedIncarnation(id))
}

// writeAhead logs a block to the checkpoint store, if the log is on.
func (c *Context) writeAhead(ctx context.Context, n *node, id lineage.ID, part any) error {
	if c.ck == nil || !c.cfg.wal {
		return nil
	}
	b, err := runtime.SafeEncode(n.rtype, part)
	if err != nil {
		return err
	}
	return c.ck.store.Put(ctx, c.walKey(n, id), b)
}

// receiverStream makes the input stream of a push receiver. run reads
// records into the intake until ctx is done; it runs on a worker, which
// the driver picks (and replaces if it dies). Each batch is the blocks
// registered since the previous batch, one partition per block.
func receiverStream[T any](c *Context, kind string, run func(ctx context.Context, in *intake[T])) *Stream[T] {
	ri := &recvInput{byBatch: make(map[int64][]lineage.ID)}
	var self *node
	s := newInput(c, kind, func(t time.Time) ([]blockRef, int64, error) {
		refs := ri.take(self.id, t)
		var n int64
		for _, r := range refs {
			n += r.Records
		}
		return refs, n, nil
	}, func(t time.Time, sc *lineage.Scope, refs []blockRef) Dataset[T] {
		if len(refs) == 0 {
			return dataset.Empty[T](c.env, sc, 1)
		}
		blocks := make([]*lineage.Dataset, len(refs))
		deps := make([]lineage.Dep, len(refs))
		for i, r := range refs {
			b, err := c.receivedDataset(r.id(self.id))
			if err != nil {
				panic(err) // self is a receiver: cannot happen
			}
			blocks[i], deps[i] = b, lineage.Range{P: b, Offset: i}
		}
		ld := sc.New(kind, self.rtype, len(refs), func(tc lineage.TaskContext, p int) (any, error) {
			return tc.Partition(blocks[p], 0)
		}, deps...)
		return dataset.Wrap[T](ld, c.env)
	}, nil)
	self = s.n
	self.recv = ri
	self.rate = c.newInputRate()
	// A resumed job's plans name blocks received before the restart:
	// without a write-ahead log they are gone.
	restore := self.restorePlan
	self.restorePlan = func(t int64, b []byte) error {
		refs, err := codec.For[[]blockRef]().Decode(b)
		if err != nil || len(refs) != 1 {
			return fmt.Errorf("%d plans, %v", len(refs), err)
		}
		if !c.cfg.wal && len(refs[0]) > 0 {
			var lost int64
			for _, r := range refs[0] {
				lost += r.Records
			}
			c.reportInput(kind, fmt.Errorf("%d records of batch %v were received before the restart and are lost (no write-ahead log; see WriteAheadLog)", lost, time.Unix(0, t)))
			b = codec.For[[]blockRef]().Append(nil, [][]blockRef{nil})
			refs[0] = nil
		}
		ids := make([]lineage.ID, len(refs[0]))
		for i, r := range refs[0] {
			ids[i] = r.id(self.id)
		}
		ri.mu.Lock()
		ri.byBatch[t] = ids
		ri.mu.Unlock()
		return restore(t, b)
	}
	self.receive = func(ctx context.Context, r *runtime.Receiving) { runIntake(ctx, c, self, r, run) }
	c.mu.Lock()
	c.receivers = append(c.receivers, self)
	c.mu.Unlock()
	return s
}

// runIntake runs a receiver on a worker: run reads into the intake, and
// every block interval the block is stored and acknowledged. When ctx is
// done it stores the last block once run returned.
func runIntake[T any](ctx context.Context, c *Context, n *node, r *runtime.Receiving, run func(ctx context.Context, in *intake[T])) {
	in := &intake[T]{ack: newAck(), lim: ratecontrol.NewLimiter()}
	// The driver sends the receiver its rate (runtime.ReceiverSpec.Rate);
	// the limiter follows it every block interval. Its burst is one
	// batch's worth.
	limit := func() {
		rate := r.Rate()
		in.lim.Set(rate, int(min(ratecontrol.Limit(rate, c.cfg.batch), math.MaxInt32)))
	}
	limit()
	in.report = func(source string, err error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := r.Report(rctx, source, err); rerr != nil {
			c.cfg.logger.Warn("input skipped", "source", source, "err", err)
		}
	}
	done := make(chan struct{})
	go func() { // owned here: waited for below
		defer close(done)
		run(ctx, in)
	}()
	store := func(last bool) {
		part, ack := in.cut(last)
		if len(part) == 0 {
			ack.finish(nil)
			return
		}
		// A stop does not abandon a block being stored.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		id := r.NextID()
		err := c.writeAhead(sctx, n, id, part)
		if err == nil {
			err = r.Put(sctx, id, part)
		}
		if err != nil {
			in.report(n.kind, fmt.Errorf("a block of %d records was not stored: %w", len(part), err))
		}
		ack.finish(err)
	}
	tick := time.NewTicker(c.cfg.blockInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			limit()
			store(false)
		case <-done:
			store(true)
			return
		}
	}
}

// SocketText makes a stream of the lines of text read from a TCP server at
// addr. The receiver reconnects (with backoff up to 2s) when the
// connection fails or closes; lines longer than MaxLineBytes or not valid
// UTF-8 are reported (OnError) and skipped. While over its rate limit
// (backpressure, MaxRate) it stops reading, so TCP flow control slows
// the sender down.
func SocketText(c *Context, addr string) *Stream[string] {
	c.check("SocketText", addr == "", "empty address")
	name := "SocketText(" + addr + ")"
	return receiverStream(c, "SocketText", func(ctx context.Context, in *intake[string]) {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			take := func(line string) {
				_ = in.lim.Wait(ctx) // an error: stopping, and the line is taken
				in.add(line)
			}
			err := readSocket(ctx, addr, take, func(err error) { in.report(name, err) })
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				in.report(name, err)
			} else {
				backoff = 100 * time.Millisecond
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	})
}

func readSocket(ctx context.Context, addr string, emit func(string), bad func(error)) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	return readLines(conn, emit, bad)
}

// readLines reads lines from r, skipping (and reporting) lines that are
// too long or not UTF-8. It never holds more than MaxLineBytes of a line.
func readLines(r io.Reader, emit func(string), bad func(error)) error {
	return scanLines(r, func(n int, line []byte, tooLong bool) {
		if err := checkLine(n, line, tooLong); err != nil {
			bad(err)
			return
		}
		emit(string(line))
	})
}

// scanLines calls each with every line of r, numbered from 1, without
// its "\n" or "\r\n". A line longer than MaxLineBytes is given cut to
// its first MaxLineBytes, with tooLong set: scanLines never holds more.
// line is only valid during the call.
func scanLines(r io.Reader, each func(n int, line []byte, tooLong bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	tooLong := false
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= MaxLineBytes+2 { // room for "\r\n"
			line = append(line, chunk...)
		} else {
			if room := MaxLineBytes - len(line); room > 0 {
				line = append(line, chunk[:min(room, len(chunk))]...)
			}
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(chunk) > 0 || len(line) > 0 || tooLong {
			n++
			l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if len(l) > MaxLineBytes {
				l, tooLong = l[:MaxLineBytes], true
			}
			each(n, l, tooLong)
		}
		line, tooLong = line[:0], false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// checkLine says what is wrong with line n, if anything: too long or not
// UTF-8.
func checkLine(n int, line []byte, tooLong bool) error {
	switch {
	case tooLong:
		return fmt.Errorf("line %d is longer than %d bytes", n, MaxLineBytes)
	case !utf8.Valid(line):
		return fmt.Errorf("line %d is not valid UTF-8", n)
	}
	return nil
}

// TextFiles makes a stream of the lines of the files that appear in dir:
// each batch reads the files that appeared since the previous batch, once.
// Files must be moved (renamed) into dir whole; names starting with '.' or
// '_' are ignored, and so are the files already there at Start (as in
// Spark). Unreadable files and malformed lines are reported (OnError) and
// skipped.
//
// Held back by backpressure or MaxRate, a batch takes whole new files, in
// name order, while their lines fit in its limit (always one at least, if
// any is waiting); the others wait for the next batches. The driver then
// counts the lines of each new file (it reads it once more).
func TextFiles(c *Context, dir string) *Stream[string] {
	c.check("TextFiles", dir == "", "empty directory")
	name := "TextFiles(" + dir + ")"
	var mu sync.Mutex // the planning and the metadata checkpoint's goroutines
	seen := make(map[string]bool)
	var pending []string // seen, not yet planned, in order
	restored := false
	c.mu.Lock()
	c.onStart = append(c.onStart, func() {
		mu.Lock()
		defer mu.Unlock()
		if restored { // resumed: seen is the checkpoint's
			return
		}
		if _, err := listNew(dir, seen); err != nil { // files already there are old
			c.reportInput(name, err)
		}
	})
	c.mu.Unlock()
	var self *node
	s := newInput(c, "TextFiles", func(time.Time) ([]string, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		files, err := listNew(dir, seen)
		if err != nil {
			c.reportInput(name, err)
		}
		pending = slices.DeleteFunc(pending, func(p string) bool { return !seen[filepath.Base(p)] }) // gone from dir
		pending = append(pending, files...)
		if self.rate == nil {
			files, pending = pending, nil
			return files, -1, nil
		}
		files, n := takeFiles(pending, self.rate.limit())
		pending = pending[len(files):]
		return files, n, nil
	}, func(_ time.Time, sc *lineage.Scope, files []string) Dataset[string] {
		if len(files) == 0 {
			return dataset.Empty[string](c.env, sc, 1)
		}
		return dataset.FlatMap(dataset.Parallelize(c.env, sc, files, len(files)), func(path string) []string {
			return readFile(path, func(err error) { c.reportInput(name, err) })
		})
	}, nil)
	self = s.n
	self.rate = c.newInputRate()
	// The files read so far are where a resumed job goes on from; the
	// ones waiting are new to it again.
	s.n.cursor = func() []byte {
		mu.Lock()
		defer mu.Unlock()
		waiting := make(map[string]bool, len(pending))
		for _, p := range pending {
			waiting[filepath.Base(p)] = true
		}
		names := make([]string, 0, len(seen))
		for nm := range seen {
			if !waiting[nm] {
				names = append(names, nm)
			}
		}
		sort.Strings(names)
		b, _ := json.Marshal(names) // strings: cannot fail
		return b
	}
	s.n.restoreCursor = func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		var names []string
		if err := json.Unmarshal(b, &names); err != nil {
			return err
		}
		clear(seen)
		for _, nm := range names {
			seen[nm] = true
		}
		pending = nil
		restored = true
		return nil
	}
	return s
}

// takeFiles returns the first files of pending whose lines fit in limit
// (-1: all of them; at least one, if any), and their lines. A file that
// cannot be counted counts for none: its batch's read reports why.
func takeFiles(pending []string, limit int64) ([]string, int64) {
	var total int64
	for i, path := range pending {
		n, _ := countLines(path)
		if i > 0 && limit >= 0 && total+n > limit {
			return pending[:i], total
		}
		total += n
	}
	return pending, total
}

// countLines counts the lines of a file as readFile reads them (a last
// line without a newline counts).
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	last := byte('\n')
	for {
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// listNew returns the files of dir not in seen, sorted, and marks them
// seen; it forgets names that left dir.
func listNew(dir string, seen map[string]bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	present := make(map[string]bool, len(entries))
	var out []string
	for _, e := range entries {
		nm := e.Name()
		if e.IsDir() || strings.HasPrefix(nm, ".") || strings.HasPrefix(nm, "_") {
			continue
		}
		present[nm] = true
		if !seen[nm] {
			seen[nm] = true
			out = append(out, filepath.Join(dir, nm))
		}
	}
	for nm := range seen {
		if !present[nm] {
			delete(seen, nm)
		}
	}
	sort.Strings(out)
	return out, nil
}

func readFile(path string, bad func(error)) []string {
	f, err := os.Open(path)
	if err != nil {
		bad(err)
		return nil
	}
	defer f.Close()
	var out []string
	err = readLines(f, func(s string) { out = append(out, s) }, func(err error) { bad(fmt.Errorf("%s: %w", path, err)) })
	if err != nil {
		bad(fmt.Errorf("%s: %w", path, err))
	}
	return out
}

// drainReceivers, at a graceful stop, stops the receivers (each stores
// the block it was cutting) and waits until a completed batch holds every
// block they registered: a stop loses nothing they acknowledged. With a
// clock other than the wall clock (tests drive it) it does not wait.
func (c *Context) drainReceivers() {
	if len(c.receivers) == 0 || c.env.driver == nil {
		return
	}
	c.mu.Lock()
	failed := c.runErr != nil || c.crashed
	c.mu.Unlock()
	if failed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if late := c.env.driver.StopReceivers(ctx); len(late) > 0 {
		c.cfg.logger.Warn("sluice: receivers did not confirm their stop", "nodes", late)
	}
	if _, wall := c.cfg.clock.(runtime.WallClock); !wall {
		return
	}
	deadline := time.Now().Add(3*c.cfg.batch + 5*time.Second)
	for time.Now().Before(deadline) {
		pending, want := false, int64(0)
		for _, n := range c.receivers {
			n.recv.mu.Lock()
			pending = pending || len(n.recv.pending) > 0
			want = max(want, n.recv.taken)
			n.recv.mu.Unlock()
		}
		if !pending && c.lastDone.Load() >= want {
			return
		}
		select {
		case <-c.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.cfg.logger.Warn("sluice: stopping before the last received blocks were processed")
}

// recoverWAL, at a start over a checkpoint with the write-ahead log on,
// hands each receiver the blocks it logged but no recorded batch holds
// (registered after the last metadata checkpoint, or never): the first
// batches process them.
func (c *Context) recoverWAL(ctx context.Context) error {
	if c.ck == nil || !c.cfg.wal {
		return nil
	}
	keys := c.inputKeys()
	for _, n := range c.receivers {
		prefix := "wal/" + escapeKey(keys[n]) + "/"
		names, err := c.ck.store.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("sluice: reading the write-ahead log of %s: %w", keys[n], err)
		}
		n.recv.mu.Lock()
		held := make(map[lineage.ID]bool)
		for _, ids := range n.recv.byBatch {
			for _, id := range ids {
				held[id] = true
			}
		}
		n.recv.mu.Unlock()
		var refs []blockRef
		for _, name := range names {
			var t int64
			var inc int32
			if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix), "%d-%d", &t, &inc); err != nil {
				c.cfg.logger.Warn("sluice: skipping a write-ahead log entry with a malformed name", "key", name)
				continue
			}
			r := blockRef{Inc: inc, Time: t}
			if held[r.id(n.id)] {
				continue
			}
			b, err := c.ck.store.Get(ctx, name)
			if err != nil {
				return fmt.Errorf("sluice: reading write-ahead log block %s: %w", name, err)
			}
			part, err := n.rtype.Decode(b)
			if err != nil {
				return fmt.Errorf("sluice: write-ahead log block %s: %w", name, err)
			}
			r.Records = int64(n.rtype.Len(part))
			refs = append(refs, r)
		}
		if len(refs) > 0 {
			c.cfg.logger.Info("sluice: processing blocks received before the restart", "input", keys[n], "blocks", len(refs))
		}
		n.recv.mu.Lock()
		n.recv.pending = append(refs, n.recv.pending...)
		n.recv.mu.Unlock()
	}
	return nil
}
