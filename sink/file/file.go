package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// SuccessName is the name of the file that marks a batch committed. It
// holds the batch's number of partitions, in decimal, and a newline.
const SuccessName = "_SUCCESS"

// PartName returns the name of partition p's file: part-00000.jsonl, ….
func PartName(p int) string { return fmt.Sprintf("part-%05d.jsonl", p) }

// Sink writes every (output, batch, partition) of a stream to a file of its
// own, and commits each batch whole on the driver: the parts are written
// under DIR/<output>/_pending/<batch-ms>/, and CommitBatch renames that
// directory to DIR/<output>/<batch-ms>/ once every part is there. It is
// safe for concurrent use.
type Sink[T any] struct {
	dir    string
	format func(T) ([]byte, error)
	// every is the compaction period (0: no compaction); settle how long
	// after a period's end, in batch time, it is compacted.
	every, settle time.Duration
	fs            fsys
	// mu serialises the driver's commits and compactions (a driver may
	// commit batches of one output concurrently).
	mu sync.Mutex
}

// Option configures a Sink.
type Option[T any] func(*Sink[T])

// Format sets how a record becomes a line (JSON by encoding/json by
// default). The line must not contain a newline; one that does fails the
// write.
func Format[T any](f func(T) ([]byte, error)) Option[T] {
	return func(s *Sink[T]) { s.format = f }
}

// Compact makes the driver compact the committed batches of each period
// of the given length (aligned on the Unix epoch: every hour with
// time.Hour) into one file, DIR/<output>/compact-<period-start-ms>-<n>/,
// once a batch at least CompactSettle after the period's end is
// committed. See the package documentation for how it stays exactly-once
// through crashes. every must be a positive number of milliseconds.
func Compact[T any](every time.Duration) Option[T] {
	return func(s *Sink[T]) { s.every = every.Truncate(time.Millisecond) }
}

// DefaultSettle is how long after a period's end, by default, it is
// compacted (see CompactSettle).
const DefaultSettle = time.Minute

// CompactSettle sets how long after its end a period is compacted (one
// minute by default), in batch time: a batch may be run again after a
// driver restart (those after the last metadata checkpoint), and a batch
// that was compacted can only be run again with the same records. It
// should exceed a few batch intervals.
func CompactSettle[T any](d time.Duration) Option[T] {
	return func(s *Sink[T]) { s.settle = max(d, 0) }
}

// New returns a sink that writes under dir. In a cluster dir must be on a
// file system every worker and the driver share: the workers write the
// parts and the driver commits them (local-cluster workers share the
// driver's machine, so any local directory will do there).
func New[T any](dir string, opts ...Option[T]) *Sink[T] {
	s := &Sink[T]{dir: dir, format: func(r T) ([]byte, error) { return json.Marshal(r) }, settle: DefaultSettle, fs: osFS{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Dir returns the directory the sink writes under.
func (s *Sink[T]) Dir() string { return s.dir }

// Write writes one partition of one batch to its file in the batch's
// pending directory, whole: the lines go to a temporary file in the same
// directory, which is synced and then renamed to the part's name. A
// repeated write of the same key replaces the file with an identical one,
// and of two concurrent attempts the last rename wins, so the file is
// whole either way.
func (s *Sink[T]) Write(ctx context.Context, key sluice.OutputKey, records []T) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: write %v: %w", key, err)
	}
	dir := s.pendingDir(key.Output, key.Batch.UnixMilli())
	if err := s.fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("file: write %v: %w", key, err)
	}
	err := writeAtomic(ctx, s.fs, filepath.Join(dir, PartName(key.Partition)), func(w *bufio.Writer) error {
		for i, r := range records {
			line, err := s.format(r)
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			if bytes.IndexByte(line, '\n') >= 0 {
				return fmt.Errorf("record %d: the formatted line contains a newline", i)
			}
			w.Write(line) // a bufio.Writer keeps its first error for Flush
			w.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("file: write %v: %w", key, err)
	}
	return nil
}

// CommitBatch commits batch t of output, once it has checked that the
// files of all its partitions exist: it removes what a crashed or earlier
// run left in the pending directory (temporary files, parts beyond
// partitions), writes _SUCCESS (the number of partitions) there, and
// renames the directory to the batch's name, which makes the batch
// visible whole. A batch committed before (run again after a restart) is
// replaced whole: the new directory gets the next generation's name,
// <batch-ms>.<n>, and readers read the highest generation; then the older
// ones are removed. A batch already compacted is not replaced: if its
// records differ from the compacted ones the commit fails. CommitBatch
// may be called again for the same batch. With Compact, it then compacts
// the periods that are due.
func (s *Sink[T]) CommitBatch(ctx context.Context, output string, t time.Time, partitions int) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.commit(ctx, output, t.UnixMilli(), partitions); err != nil {
		return fmt.Errorf("file: commit %s/%d: %w", output, t.UnixMilli(), err)
	}
	if s.every <= 0 {
		return nil
	}
	if err := s.compact(ctx, output, t.UnixMilli()); err != nil {
		return fmt.Errorf("file: compact %s: %w", output, err)
	}
	return nil
}

func (s *Sink[T]) commit(ctx context.Context, output string, ms int64, partitions int) error {
	root := filepath.Join(s.dir, output)
	pend := s.pendingDir(output, ms)
	if _, err := os.Stat(pend); errors.Is(err, fs.ErrNotExist) {
		st, err := scanOutput(root)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, ok := st.covered[ms]; ok || len(st.gens[ms]) > 0 {
			return nil // committed already: CommitBatch called again
		}
		if partitions > 0 {
			return fmt.Errorf("%s is missing (%d partitions expected): %w", PartName(0), partitions, err)
		}
		if err := s.fs.MkdirAll(pend); err != nil { // a batch with no partitions
			return err
		}
	}
	for p := range partitions {
		fi, err := os.Stat(filepath.Join(pend, PartName(p)))
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is missing (%d partitions expected): %w", PartName(p), partitions, errMissing(err))
		}
	}
	if err := removeLeftovers(s.fs, pend, partitions); err != nil {
		return err
	}
	err := writeAtomic(ctx, s.fs, filepath.Join(pend, SuccessName), func(w *bufio.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", partitions)
		return err
	})
	if err != nil {
		return err
	}
	st, err := scanOutput(root)
	if err != nil {
		return err
	}
	if mb, ok := st.covered[ms]; ok {
		return s.dropCompacted(pend, partitions, mb)
	}
	gens := st.all[ms]
	next := 0
	if len(gens) > 0 {
		next = gens[len(gens)-1] + 1
	}
	if err := s.fs.Rename(pend, filepath.Join(root, batchName(ms, next))); err != nil {
		return err
	}
	if err := s.fs.SyncDir(root); err != nil {
		return err
	}
	for _, g := range gens {
		if err := s.trash(root, batchName(ms, g)); err != nil {
			return err
		}
	}
	return nil
}

// dropCompacted removes the pending directory of a batch run again after
// it was compacted, if it holds the same records; if not, exactly-once
// cannot be kept and it says so.
func (s *Sink[T]) dropCompacted(pend string, partitions int, mb manifestBatch) error {
	sum, lines, err := digestParts(pend, partitions)
	if err != nil {
		return err
	}
	if sum != mb.SHA256 || !slices.Equal(lines, mb.Lines) {
		return fmt.Errorf("the batch was run again after it was compacted, with other records (%v lines, was %v): "+
			"the compacted ones are kept and the new ones are left in %s (raise CompactSettle)", lines, mb.Lines, pend)
	}
	return s.fs.RemoveAll(pend)
}

// trash removes a directory of root: renamed away first (so that it
// disappears at once for readers), then removed.
func (s *Sink[T]) trash(root, name string) error {
	dst := filepath.Join(root, pendingName, fmt.Sprintf("%s%s-%d", trashPrefix, name, time.Now().UnixNano()))
	if err := s.fs.Rename(filepath.Join(root, name), dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := s.fs.SyncDir(root); err != nil {
		return err
	}
	return s.fs.RemoveAll(dst)
}

func errMissing(err error) error {
	if err == nil {
		return errors.New("not a regular file")
	}
	return err
}

// removeLeftovers removes from a batch directory the temporary files of
// crashed (or losing, still running) attempts and the parts numbered
// partitions or above, which an earlier run of the batch with more
// partitions may have written. An attempt still running can only be one
// whose result is no longer wanted: every partition has a file.
func removeLeftovers(fsys fsys, dir string, partitions int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		p, isPart := partIndex(n)
		if (isPart && p >= partitions) || isTemp(n) {
			if err := fsys.RemoveAll(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// partIndex returns the partition of a part file's name.
func partIndex(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".jsonl")
	if !ok || len(digits) < 5 {
		return 0, false
	}
	p, err := strconv.Atoi(digits)
	return p, err == nil && p >= 0
}

// isTemp reports whether name is one of writeAtomic's temporary files.
func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") }

func (s *Sink[T]) pendingDir(output string, ms int64) string {
	return filepath.Join(s.dir, output, pendingName, strconv.FormatInt(ms, 10))
}

// checkOutput checks that an output name is usable as a directory name.
func checkOutput(output string) error {
	if output == "" || output == "." || output == ".." || strings.ContainsAny(output, `/\`+"\x00") {
		return fmt.Errorf("file: output name %q cannot name a directory (one path element, not . or ..)", output)
	}
	return nil
}

func checkKey(key sluice.OutputKey) error {
	if err := checkOutput(key.Output); err != nil {
		return err
	}
	if key.Partition < 0 {
		return fmt.Errorf("file: write %v: negative partition", key)
	}
	return nil
}

// writeAtomic writes path whole: fill writes a temporary file in the same
// directory (named .<base>.tmp-*, which readers ignore), which is synced,
// renamed to path, and the directory synced so that the rename lasts.
func writeAtomic(ctx context.Context, fsys fsys, path string, fill func(*bufio.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			fsys.RemoveAll(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600: let readers read
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	// A cancelled attempt (a speculative copy that lost) leaves the file
	// as it is.
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = fsys.Rename(f.Name(), path); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
