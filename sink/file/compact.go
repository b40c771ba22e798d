package file

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// compact compacts the periods of output due after the commit of batch
// now (ms) or of a later one, in these steps, each of which may be the last (a crash):
//
//  1. Finish what an interrupted compaction or commit left: remove the
//     directories under _pending that are being written or removed, and
//     the directories of batches a manifest covers (the crash came after
//     step 3).
//  2. For each period due, write its batches' lines and a manifest naming
//     them into a new directory under _pending, synced.
//  3. Rename that directory to compact-<start>-<n>: from now on readers
//     read the batches there and skip their directories.
//  4. Remove the batches' directories (renamed into _pending first).
//
// A crash before step 3 leaves the batches as they were; after it, the
// manifest says to skip their directories. Each batch is read exactly
// once whatever step a crash interrupted.
func (s *Sink[T]) compact(ctx context.Context, output string, now int64) error {
	root := filepath.Join(s.dir, output)
	st, err := scanOutput(root)
	if err != nil {
		return err
	}
	if err := s.cleanup(root, st); err != nil {
		return err
	}
	// A late batch (committed after later ones) compacts what the latest
	// one would.
	for ms := range st.gens {
		now = max(now, ms)
	}
	for ms := range st.covered {
		now = max(now, ms)
	}
	every := s.every.Milliseconds()
	periods := make(map[int64][]int64) // period start → batches
	for ms := range st.gens {
		start := ms - mod(ms, every)
		if start+every+s.settle.Milliseconds() <= now {
			periods[start] = append(periods[start], ms)
		}
	}
	for _, start := range sortedKeys(periods) {
		batches := periods[start]
		slices.Sort(batches)
		seq := 1
		for _, c := range st.compacts {
			if c.start == start {
				seq = max(seq, c.seq+1)
			}
		}
		if err := s.compactPeriod(ctx, root, start, start+every, seq, batches, st.gens); err != nil {
			return fmt.Errorf("period %d: %w", start, err)
		}
	}
	return nil
}

// cleanup is compact's step 1.
func (s *Sink[T]) cleanup(root string, st outputState) error {
	entries, err := os.ReadDir(filepath.Join(root, pendingName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, trashPrefix) || strings.HasPrefix(n, compactPrefix) {
			if err := s.fs.RemoveAll(filepath.Join(root, pendingName, n)); err != nil {
				return err
			}
		}
	}
	for _, name := range st.stale {
		if err := s.trash(root, name); err != nil {
			return err
		}
	}
	return nil
}

// compactPeriod is compact's steps 2 to 4 for one period.
func (s *Sink[T]) compactPeriod(ctx context.Context, root string, start, end int64, seq int, batches []int64, gens map[int64][]int) error {
	name := compactName(start, seq)
	tmp := filepath.Join(root, pendingName, name+".tmp")
	if err := s.fs.MkdirAll(tmp); err != nil {
		return err
	}
	m := manifest{Version: manifestVersion, Start: start, End: end}
	err := writeAtomic(ctx, s.fs, filepath.Join(tmp, DataName), func(w *bufio.Writer) error {
		for _, ms := range batches {
			g := gens[ms]
			mb, err := copyBatch(w, filepath.Join(root, batchName(ms, g[len(g)-1])))
			if err != nil {
				return fmt.Errorf("batch %d: %w", ms, err)
			}
			mb.Time = ms
			m.Batches = append(m.Batches, mb)
			m.Bytes += mb.Bytes
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := m.check(); err != nil {
		panic(fmt.Sprintf("file: compaction made a bad manifest: %v", err)) // a bug, not a failure
	}
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return err
	}
	err = writeAtomic(ctx, s.fs, filepath.Join(tmp, ManifestName), func(w *bufio.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return err
	}
	if err := s.fs.Rename(tmp, filepath.Join(root, name)); err != nil {
		return err
	}
	if err := s.fs.SyncDir(root); err != nil {
		return err
	}
	for _, ms := range batches {
		for _, g := range gens[ms] {
			if err := s.trash(root, batchName(ms, g)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSuccess reads the number of partitions a committed batch
// directory's _SUCCESS gives.
func readSuccess(dir string) (int, error) {
	marker, err := os.ReadFile(filepath.Join(dir, SuccessName))
	if err != nil {
		return 0, err
	}
	parts, err := parsePartitions(marker)
	if err != nil {
		return 0, fmt.Errorf("%s holds %q, not a number of partitions", SuccessName, marker)
	}
	return parts, nil
}

// copyBatch copies the parts of a committed batch to w and describes them.
func copyBatch(w io.Writer, dir string) (manifestBatch, error) {
	parts, err := readSuccess(dir)
	if err != nil {
		return manifestBatch{}, err
	}
	d := sha256.New()
	mb := manifestBatch{Lines: make([]int64, parts)}
	for p := range parts {
		n, lines, err := copyPart(io.MultiWriter(w, d), filepath.Join(dir, PartName(p)))
		if err != nil {
			return manifestBatch{}, err
		}
		mb.Bytes += n
		mb.Lines[p] = lines
	}
	mb.SHA256 = hex.EncodeToString(d.Sum(nil))
	return mb, nil
}

// copyPart copies a part file, which must be whole lines, to w.
func copyPart(w io.Writer, path string) (n, lines int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var last byte = '\n'
	for {
		k, err := f.Read(buf)
		if k > 0 {
			lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
			if _, err := w.Write(buf[:k]); err != nil {
				return 0, 0, err
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if last != '\n' {
		return 0, 0, fmt.Errorf("%s does not end with a newline", path)
	}
	return n, lines, nil
}

// digestParts digests the parts of a batch directory as copyBatch does.
func digestParts(dir string, parts int) (string, []int64, error) {
	var d hash.Hash = sha256.New()
	lines := make([]int64, parts)
	for p := range parts {
		_, n, err := copyPart(d, filepath.Join(dir, PartName(p)))
		if err != nil {
			return "", nil, err
		}
		lines[p] = n
	}
	return hex.EncodeToString(d.Sum(nil)), lines, nil
}

// mod is the remainder of a by b (> 0), in [0, b).
func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
