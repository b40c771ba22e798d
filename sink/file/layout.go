package file

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The layout of an output's directory, DIR/<output>/:
//
//	<batch-ms>/                    a committed batch: part-NNNNN.jsonl, _SUCCESS
//	<batch-ms>.<n>/                the same batch committed again (generation n)
//	compact-<start-ms>-<n>/        a compacted period: data.jsonl, _MANIFEST.json
//	_pending/<batch-ms>/           a batch being written (uncommitted)
//	_pending/compact-….tmp         a compaction being written
//	_pending/trash-…               a directory being removed
const (
	pendingName   = "_pending"
	compactPrefix = "compact-"
	trashPrefix   = "trash-"
	// ManifestName is the file of a compacted directory that says which
	// batches it holds.
	ManifestName = "_MANIFEST.json"
	// DataName is the file of a compacted directory that holds the lines
	// of its batches, batch after batch, partition after partition.
	DataName = "data.jsonl"
)

// batchName names generation gen of batch ms's directory.
func batchName(ms int64, gen int) string {
	if gen == 0 {
		return strconv.FormatInt(ms, 10)
	}
	return fmt.Sprintf("%d.%d", ms, gen)
}

// parseBatchName is batchName's inverse.
func parseBatchName(name string) (ms int64, gen int, ok bool) {
	a, b, dot := strings.Cut(name, ".")
	ms, err := strconv.ParseInt(a, 10, 64)
	if err != nil || strconv.FormatInt(ms, 10) != a {
		return 0, 0, false
	}
	if !dot {
		return ms, 0, true
	}
	gen, err = strconv.Atoi(b)
	if err != nil || gen <= 0 || strconv.Itoa(gen) != b {
		return 0, 0, false
	}
	return ms, gen, true
}

func compactName(start int64, seq int) string {
	return fmt.Sprintf("%s%d-%d", compactPrefix, start, seq)
}

func parseCompactName(name string) (start int64, seq int, ok bool) {
	rest, ok := strings.CutPrefix(name, compactPrefix)
	if !ok {
		return 0, 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(rest[:i], 10, 64)
	seq, err2 := strconv.Atoi(rest[i+1:])
	if err1 != nil || err2 != nil || seq <= 0 || compactName(start, seq) != name {
		return 0, 0, false
	}
	return start, seq, true
}

// manifest is a compacted directory's _MANIFEST.json.
type manifest struct {
	Version int `json:"version"`
	// Start and End bound the period (Unix ms, End excluded).
	Start int64 `json:"start_ms"`
	End   int64 `json:"end_ms"`
	// Batches are the batches the data file holds, in this order.
	Batches []manifestBatch `json:"batches"`
	// Bytes is the data file's size.
	Bytes int64 `json:"bytes"`
}

// manifestBatch is one batch of a compacted file.
type manifestBatch struct {
	Time int64 `json:"t_ms"`
	// Lines holds the number of lines of each partition.
	Lines []int64 `json:"lines"`
	// Bytes is the size of the batch's lines; SHA256 their digest (hex),
	// to tell whether a batch run again wrote the same records.
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

const manifestVersion = 1

// maxManifestBytes bounds a manifest read (a period of one-millisecond
// batches with a thousand partitions each is far below).
const maxManifestBytes = 64 << 20

// parseManifest decodes and checks a manifest.
func parseManifest(b []byte) (manifest, error) {
	var m manifest
	if len(b) > maxManifestBytes {
		return m, fmt.Errorf("manifest of %d bytes, more than %d", len(b), maxManifestBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return manifest{}, errors.New("manifest: data after the JSON object")
	}
	if err := m.check(); err != nil {
		return manifest{}, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

func (m manifest) check() error {
	if m.Version != manifestVersion {
		return fmt.Errorf("version %d, want %d", m.Version, manifestVersion)
	}
	if m.End <= m.Start {
		return fmt.Errorf("period [%d, %d) is empty", m.Start, m.End)
	}
	if len(m.Batches) == 0 {
		return errors.New("no batch")
	}
	var total int64
	for i, b := range m.Batches {
		if b.Time < m.Start || b.Time >= m.End {
			return fmt.Errorf("batch %d is outside the period [%d, %d)", b.Time, m.Start, m.End)
		}
		if i > 0 && b.Time <= m.Batches[i-1].Time {
			return fmt.Errorf("batch %d after batch %d", b.Time, m.Batches[i-1].Time)
		}
		var lines int64
		for _, n := range b.Lines {
			if n < 0 {
				return fmt.Errorf("batch %d: negative line count", b.Time)
			}
			lines += n
		}
		if b.Bytes < lines || (lines == 0) != (b.Bytes == 0) || b.Bytes > 1<<50 {
			return fmt.Errorf("batch %d: %d bytes for %d lines", b.Time, b.Bytes, lines)
		}
		if d, err := hex.DecodeString(b.SHA256); err != nil || len(d) != 32 {
			return fmt.Errorf("batch %d: digest %q is not a SHA-256 in hex", b.Time, b.SHA256)
		}
		total += b.Bytes
	}
	if total != m.Bytes {
		return fmt.Errorf("batches of %d bytes in all, but %d bytes said", total, m.Bytes)
	}
	return nil
}

// compacted is a compacted directory of an output.
type compacted struct {
	name     string
	start    int64
	seq      int
	manifest manifest
}

// outputState is what an output's directory holds.
type outputState struct {
	// gens are the committed generations of each batch not compacted,
	// ascending (those whose directory holds _SUCCESS).
	gens map[int64][]int
	// all are the generations of each batch not compacted, committed or
	// not (a directory of the layout before _pending may lack _SUCCESS).
	all map[int64][]int
	// stale are directories of compacted batches, left by a compaction
	// that crashed before removing them.
	stale []string
	// compacts are the compacted directories, by name.
	compacts []compacted
	// covered are the compacted batches.
	covered map[int64]manifestBatch
}

// scanOutput reads the state of an output's directory root. A manifest
// that cannot be read is an error: which batches it covers is unknown.
func scanOutput(root string) (outputState, error) {
	st := outputState{gens: make(map[int64][]int), all: make(map[int64][]int), covered: make(map[int64]manifestBatch)}
	entries, err := os.ReadDir(root)
	if err != nil {
		return st, err
	}
	type gen struct {
		ms  int64
		gen int
	}
	var batches []gen
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if ms, g, ok := parseBatchName(e.Name()); ok {
			batches = append(batches, gen{ms, g})
			continue
		}
		start, seq, ok := parseCompactName(e.Name())
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), ManifestName))
		if err != nil {
			return st, fmt.Errorf("%s: %w", e.Name(), err)
		}
		m, err := parseManifest(b)
		if err == nil && m.Start != start {
			err = fmt.Errorf("manifest: period starts at %d, not %d", m.Start, start)
		}
		if err != nil {
			return st, fmt.Errorf("%s: %w", e.Name(), err)
		}
		st.compacts = append(st.compacts, compacted{name: e.Name(), start: start, seq: seq, manifest: m})
		for _, mb := range m.Batches {
			if _, dup := st.covered[mb.Time]; dup {
				return st, fmt.Errorf("%s: batch %d is compacted twice", e.Name(), mb.Time)
			}
			st.covered[mb.Time] = mb
		}
	}
	for _, b := range batches {
		name := batchName(b.ms, b.gen)
		if _, ok := st.covered[b.ms]; ok {
			st.stale = append(st.stale, name)
			continue
		}
		st.all[b.ms] = append(st.all[b.ms], b.gen)
		if _, err := os.Stat(filepath.Join(root, name, SuccessName)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // an uncommitted batch of the layout before _pending
			}
			return st, err
		}
		st.gens[b.ms] = append(st.gens[b.ms], b.gen)
	}
	for _, g := range st.gens {
		slices.Sort(g)
	}
	for _, g := range st.all {
		slices.Sort(g)
	}
	slices.SortFunc(st.compacts, func(a, b compacted) int { return cmpCompact(a, b) })
	return st, nil
}

func cmpCompact(a, b compacted) int {
	if a.start != b.start {
		if a.start < b.start {
			return -1
		}
		return 1
	}
	return a.seq - b.seq
}
