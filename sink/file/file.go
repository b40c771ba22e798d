package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// SuccessName is the name of the file that marks a batch committed. It
// holds the batch's number of partitions, in decimal, and a newline.
const SuccessName = "_SUCCESS"

// PartName returns the name of partition p's file: part-00000.jsonl, ….
func PartName(p int) string { return fmt.Sprintf("part-%05d.jsonl", p) }

// Sink writes every (output, batch, partition) of a stream to a file of its
// own, DIR/<output>/<batch-ms>/part-NNNNN.jsonl, one record per line, and
// marks a batch committed with a _SUCCESS file once every partition is
// written. It is safe for concurrent use.
type Sink[T any] struct {
	dir    string
	format func(T) ([]byte, error)
}

// Option configures a Sink.
type Option[T any] func(*Sink[T])

// Format sets how a record becomes a line (JSON by encoding/json by
// default). The line must not contain a newline; one that does fails the
// write.
func Format[T any](f func(T) ([]byte, error)) Option[T] {
	return func(s *Sink[T]) { s.format = f }
}

// New returns a sink that writes under dir. In a cluster dir must be on a
// file system every worker and the driver share: the workers write the
// parts and the driver the _SUCCESS marker (local-cluster workers share
// the driver's machine, so any local directory will do there).
func New[T any](dir string, opts ...Option[T]) *Sink[T] {
	s := &Sink[T]{dir: dir, format: func(r T) ([]byte, error) { return json.Marshal(r) }}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Dir returns the directory the sink writes under.
func (s *Sink[T]) Dir() string { return s.dir }

// Write writes one partition of one batch to its file, whole: the lines
// go to a temporary file in the same directory, which is synced and then
// renamed to the part's name. A repeated write of the same key replaces
// the file with an identical one, and of two concurrent attempts the
// last rename wins, so readers see one whole file either way.
func (s *Sink[T]) Write(ctx context.Context, key sluice.OutputKey, records []T) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: write %v: %w", key, err)
	}
	dir := s.batchDir(key.Output, key.Batch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("file: write %v: %w", key, err)
	}
	err := writeAtomic(ctx, filepath.Join(dir, PartName(key.Partition)), func(w *bufio.Writer) error {
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

// CommitBatch marks batch t of output committed, once it has checked that
// the files of all its partitions exist: it removes what a crashed or
// earlier run left in the batch's directory (temporary files, parts beyond
// partitions), then writes _SUCCESS, holding the number of partitions,
// atomically. It may be called again for the same batch.
func (s *Sink[T]) CommitBatch(ctx context.Context, output string, t time.Time, partitions int) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	name := fmt.Sprintf("%s/%d", output, t.UnixMilli())
	dir := s.batchDir(output, t)
	if err := os.MkdirAll(dir, 0o755); err != nil { // a batch with no partitions
		return fmt.Errorf("file: commit %s: %w", name, err)
	}
	for p := range partitions {
		fi, err := os.Stat(filepath.Join(dir, PartName(p)))
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("file: commit %s: %s is missing (%d partitions expected): %w",
				name, PartName(p), partitions, errMissing(err))
		}
	}
	if err := removeLeftovers(dir, partitions); err != nil {
		return fmt.Errorf("file: commit %s: %w", name, err)
	}
	err := writeAtomic(ctx, filepath.Join(dir, SuccessName), func(w *bufio.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", partitions)
		return err
	})
	if err != nil {
		return fmt.Errorf("file: commit %s: %w", name, err)
	}
	return nil
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
func removeLeftovers(dir string, partitions int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		p, isPart := partIndex(n)
		if (isPart && p >= partitions) || isTemp(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
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

func (s *Sink[T]) batchDir(output string, t time.Time) string {
	return filepath.Join(s.dir, output, strconv.FormatInt(t.UnixMilli(), 10))
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
func writeAtomic(ctx context.Context, path string, fill func(*bufio.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
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
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
