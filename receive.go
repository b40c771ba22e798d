package sluice

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
)

// MaxLineBytes bounds a line read by SocketText and TextFiles; a longer
// line is reported and skipped.
const MaxLineBytes = 1 << 20

// DefaultBlockInterval is how often a receiver cuts the records it
// received into a block; each block is one partition of its batch.
const DefaultBlockInterval = 200 * time.Millisecond

// reportInput logs an input error that a source skipped, and tells the
// OnError function.
func (c *Context) reportInput(source string, err error) {
	c.cfg.logger.Warn("input skipped", "source", source, "err", err)
	if c.cfg.onError != nil {
		c.cfg.onError(fmt.Errorf("sluice: %s: %w", source, err))
	}
}

// addReceiver registers a goroutine that Start starts and Stop stops.
func (c *Context) addReceiver(run func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receivers = append(c.receivers, run)
}

// blocks accumulates received records and cuts them into blocks.
type blocks[T any] struct {
	mu      sync.Mutex
	current []T
	done    [][]T
}

func (b *blocks[T]) add(x T) {
	b.mu.Lock()
	b.current = append(b.current, x)
	b.mu.Unlock()
}

func (b *blocks[T]) cut() {
	b.mu.Lock()
	if len(b.current) > 0 {
		b.done = append(b.done, b.current)
		b.current = nil
	}
	b.mu.Unlock()
}

// take returns every block cut so far, plus the records not yet in one.
func (b *blocks[T]) take() [][]T {
	b.cut()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.done
	b.done = nil
	return out
}

// receiverStream makes the input stream of a push receiver: each batch is
// the blocks received since the previous batch, one partition per block.
func receiverStream[T any](c *Context, kind string, run func(ctx context.Context, emit func(T))) *Stream[T] {
	bs := &blocks[T]{}
	c.addReceiver(func(ctx context.Context) {
		tick := time.NewTicker(DefaultBlockInterval)
		defer tick.Stop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			run(ctx, bs.add)
		}()
		for {
			select {
			case <-tick.C:
				bs.cut()
			case <-ctx.Done():
				<-done
				return
			}
		}
	})
	return newInput(c, kind, func(time.Time) ([][]T, int64, error) {
		blocks := bs.take()
		var n int64
		for _, b := range blocks {
			n += int64(len(b))
		}
		return blocks, n, nil
	}, func(_ time.Time, sc *lineage.Scope, blocks [][]T) Dataset[T] {
		if len(blocks) == 0 {
			return dataset.Empty[T](c.env, sc, 1)
		}
		return dataset.FlatMap(dataset.Parallelize(c.env, sc, blocks, len(blocks)), func(b []T) []T { return b })
	})
}

// SocketText makes a stream of the lines of text read from a TCP server at
// addr. The receiver reconnects (with backoff up to 2s) when the
// connection fails or closes; lines longer than MaxLineBytes or not valid
// UTF-8 are reported (OnError) and skipped.
func SocketText(c *Context, addr string) *Stream[string] {
	c.check("SocketText", addr == "", "empty address")
	name := "SocketText(" + addr + ")"
	return receiverStream(c, "SocketText", func(ctx context.Context, emit func(string)) {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := readSocket(ctx, addr, func(line string) { emit(line) }, func(err error) { c.reportInput(name, err) })
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				c.reportInput(name, err)
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
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	tooLong := false
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= MaxLineBytes+2 { // room for "\r\n"
			line = append(line, chunk...)
		} else {
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(chunk) > 0 || len(line) > 0 || tooLong {
			n++
			if tooLong {
				bad(fmt.Errorf("line %d is longer than %d bytes", n, MaxLineBytes))
			} else {
				lineDone(line, n, emit, bad)
			}
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

func lineDone(line []byte, n int, emit func(string), bad func(error)) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	switch {
	case len(s) > MaxLineBytes:
		bad(fmt.Errorf("line %d is longer than %d bytes", n, MaxLineBytes))
	case !utf8.ValidString(s):
		bad(fmt.Errorf("line %d is not valid UTF-8", n))
	default:
		emit(s)
	}
}

// TextFiles makes a stream of the lines of the files that appear in dir:
// each batch reads the files that appeared since the previous batch, once.
// Files must be moved (renamed) into dir whole; names starting with '.' or
// '_' are ignored, and so are the files already there at Start (as in
// Spark). Unreadable files and malformed lines are reported (OnError) and
// skipped.
func TextFiles(c *Context, dir string) *Stream[string] {
	c.check("TextFiles", dir == "", "empty directory")
	name := "TextFiles(" + dir + ")"
	var mu sync.Mutex // the planning and the metadata checkpoint's goroutines
	seen := make(map[string]bool)
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
	s := newInput(c, "TextFiles", func(time.Time) ([]string, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		files, err := listNew(dir, seen)
		if err != nil {
			c.reportInput(name, err)
			return nil, 0, nil
		}
		return files, -1, nil
	}, func(_ time.Time, sc *lineage.Scope, files []string) Dataset[string] {
		if len(files) == 0 {
			return dataset.Empty[string](c.env, sc, 1)
		}
		return dataset.FlatMap(dataset.Parallelize(c.env, sc, files, len(files)), func(path string) []string {
			return readFile(path, func(err error) { c.reportInput(name, err) })
		})
	})
	// The files read so far are where a resumed job goes on from.
	s.n.cursor = func() []byte {
		mu.Lock()
		defer mu.Unlock()
		names := make([]string, 0, len(seen))
		for nm := range seen {
			names = append(names, nm)
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
		restored = true
		return nil
	}
	return s
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
