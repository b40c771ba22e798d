package file

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Batch is one committed batch of an output, as ReadBatches finds it.
type Batch struct {
	// Time is the batch time.
	Time time.Time
	// Parts holds the lines of each partition, in partition order,
	// without their newlines.
	Parts [][][]byte
}

// Lines returns the lines of every partition, in partition order.
func (b Batch) Lines() [][]byte {
	var out [][]byte
	for _, p := range b.Parts {
		out = append(out, p...)
	}
	return out
}

// ReadBatches returns the committed batches of an output written under
// dir by a Sink, in time order, each exactly once: those compacted (read
// from the compacted files, in their partitions) and the others (from
// the highest generation of their directory with a _SUCCESS file, with
// the number of partitions that file gives). Uncommitted batches (still
// being written, or interrupted) and temporary files are left out, so that
// two runs of a job can be compared record by record. A committed batch
// with a part missing is an error, and so is an output that dir does not
// hold (the error then wraps fs.ErrNotExist). A compaction running at the
// same time may remove a batch directory being read: ReadBatches then
// reads again, up to three times.
func ReadBatches(dir, output string) ([]Batch, error) {
	var out []Batch
	var err error
	for range 3 {
		out = out[:0]
		err = Scan(dir, output, func(b Batch) error {
			out = append(out, b)
			return nil
		})
		if !errors.Is(err, errMoved) {
			break
		}
	}
	return out, err
}

// errMoved is wrapped by Scan's error when a batch directory it listed
// is gone (compacted, or replaced by a new generation) when read.
var errMoved = errors.New("removed while being read (compacted or committed again); read again")

// Scan calls fn with every committed batch of an output written under dir
// by a Sink, in time order, as ReadBatches returns them, holding one batch
// at a time in memory. It stops at fn's first error and returns it. If a
// compaction or a commit removes a directory that Scan listed before it
// read it, Scan fails (after giving fn the batches before): read again.
func Scan(dir, output string, fn func(Batch) error) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	root := filepath.Join(dir, output)
	st, err := scanOutput(root)
	if err != nil {
		return fmt.Errorf("file: read output %q: %w", output, err)
	}
	type item struct {
		ms  int64
		c   *compacted // compacted at offset off, or
		off int64
		gen int // in its directory
	}
	var items []item
	for i := range st.compacts {
		c := &st.compacts[i]
		off := int64(0)
		for _, mb := range c.manifest.Batches {
			items = append(items, item{ms: mb.Time, c: c, off: off})
			off += mb.Bytes
		}
	}
	for ms, gens := range st.gens {
		items = append(items, item{ms: ms, gen: gens[len(gens)-1]})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.ms, b.ms) })
	files := make(map[*compacted]*os.File)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, it := range items {
		var b Batch
		var err error
		if it.c != nil {
			b, err = readCompacted(root, it.c, it.ms, it.off, files)
		} else {
			b, err = readBatch(filepath.Join(root, batchName(it.ms, it.gen)), time.UnixMilli(it.ms))
		}
		if err != nil {
			return fmt.Errorf("file: read output %q: %w", output, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// readCompacted reads batch ms of a compacted directory, at offset off of
// its data file.
func readCompacted(root string, c *compacted, ms, off int64, files map[*compacted]*os.File) (Batch, error) {
	f := files[c]
	if f == nil {
		var err error
		f, err = os.Open(filepath.Join(root, c.name, DataName))
		if err != nil {
			return Batch{}, fmt.Errorf("%s: %w", c.name, err)
		}
		files[c] = f
		fi, err := f.Stat()
		if err != nil {
			return Batch{}, fmt.Errorf("%s: %w", c.name, err)
		}
		if fi.Size() != c.manifest.Bytes {
			return Batch{}, fmt.Errorf("%s: %s holds %d bytes, its manifest says %d", c.name, DataName, fi.Size(), c.manifest.Bytes)
		}
	}
	i := slices.IndexFunc(c.manifest.Batches, func(mb manifestBatch) bool { return mb.Time == ms })
	mb := c.manifest.Batches[i]
	data := make([]byte, mb.Bytes)
	if _, err := f.ReadAt(data, off); err != nil {
		return Batch{}, fmt.Errorf("%s: batch %d: %w", c.name, ms, err)
	}
	b := Batch{Time: time.UnixMilli(ms), Parts: make([][][]byte, len(mb.Lines))}
	for p, n := range mb.Lines {
		for range n {
			j := bytes.IndexByte(data, '\n')
			if j < 0 {
				return Batch{}, fmt.Errorf("%s: batch %d has fewer lines than its manifest says", c.name, ms)
			}
			b.Parts[p] = append(b.Parts[p], data[:j:j])
			data = data[j+1:]
		}
	}
	if len(data) > 0 {
		return Batch{}, fmt.Errorf("%s: batch %d has more lines than its manifest says", c.name, ms)
	}
	return b, nil
}

// readBatch reads one committed batch directory.
func readBatch(dir string, t time.Time) (Batch, error) {
	parts, err := readSuccess(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Batch{}, fmt.Errorf("batch %d: %w: %w", t.UnixMilli(), errMoved, err)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("batch %d: %w", t.UnixMilli(), err)
	}
	b := Batch{Time: t, Parts: make([][][]byte, parts)}
	for p := range parts {
		data, err := os.ReadFile(filepath.Join(dir, PartName(p)))
		if err != nil {
			if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %w", errMoved, err)
			}
			return Batch{}, fmt.Errorf("batch %d is committed with %d partitions: %w", t.UnixMilli(), parts, err)
		}
		b.Parts[p] = splitLines(data)
	}
	return b, nil
}

// parsePartitions parses a _SUCCESS file.
func parsePartitions(marker []byte) (int, error) {
	parts, err := strconv.Atoi(strings.TrimSpace(string(marker)))
	if err != nil || parts < 0 {
		return 0, fmt.Errorf("not a number of partitions: %q", marker)
	}
	return parts, nil
}

// splitLines splits newline-terminated lines.
func splitLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
}

// Decode decodes JSON lines, such as a Batch's Lines, into records.
func Decode[T any](lines [][]byte) ([]T, error) {
	out := make([]T, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &out[i]); err != nil {
			return nil, fmt.Errorf("file: line %d: %w", i+1, err)
		}
	}
	return out, nil
}
