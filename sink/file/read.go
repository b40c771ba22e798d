package file

import (
	"bytes"
	"encoding/json"
	"fmt"
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
// dir by a Sink, in time order: those with a _SUCCESS file, each with the
// number of partitions that file gives. Uncommitted batches (still being
// written, or interrupted) and temporary files are left out, so that
// two runs of a job can be compared record by record. A committed batch
// with a part missing is an error, and so is an output that dir does not
// hold (the error then wraps fs.ErrNotExist).
func ReadBatches(dir, output string) ([]Batch, error) {
	if err := checkOutput(output); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, output)
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("file: read output %q: %w", output, err)
	}
	var out []Batch
	for _, e := range entries {
		ms, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue // not a batch: the sink names batches by their time in ms
		}
		b, ok, err := readBatch(filepath.Join(root, e.Name()), time.UnixMilli(ms))
		if err != nil {
			return nil, fmt.Errorf("file: read output %q: %w", output, err)
		}
		if ok {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b Batch) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// readBatch reads one batch directory; ok is false if it is not committed.
func readBatch(dir string, t time.Time) (b Batch, ok bool, err error) {
	marker, err := os.ReadFile(filepath.Join(dir, SuccessName))
	if os.IsNotExist(err) {
		return Batch{}, false, nil
	}
	if err != nil {
		return Batch{}, false, err
	}
	parts, err := strconv.Atoi(strings.TrimSpace(string(marker)))
	if err != nil || parts < 0 {
		return Batch{}, false, fmt.Errorf("batch %d: %s holds %q, not a number of partitions", t.UnixMilli(), SuccessName, marker)
	}
	b = Batch{Time: t, Parts: make([][][]byte, parts)}
	for p := range parts {
		data, err := os.ReadFile(filepath.Join(dir, PartName(p)))
		if err != nil {
			return Batch{}, false, fmt.Errorf("batch %d is committed with %d partitions: %w", t.UnixMilli(), parts, err)
		}
		b.Parts[p] = splitLines(data)
	}
	return b, true, nil
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
