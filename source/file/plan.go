package file

import (
	"cmp"
	"slices"
	"time"
)

// File is one file of the watched directory, as a listing found it.
type File struct {
	// Name is the file's name in the directory (its key after the
	// prefix, for S3).
	Name string
	// Size is its length in bytes.
	Size int64
	// ModTime is its modification time (S3: LastModified), in Unix
	// nanoseconds.
	ModTime int64
	// ETag is the object's entity tag (S3 only): a rewritten object has
	// another, so it is read again, and a read checks it.
	ETag string
}

// same reports whether f and g are the same version of a file.
func (f File) same(g File) bool {
	return f.Size == g.Size && f.ModTime == g.ModTime && f.ETag == g.ETag
}

// Part is one task's share of a plan: a byte range of one of its files.
// A part reads the lines that start in [Start, End) (the last may end
// after End), so the parts of a file read each of its lines once.
type Part struct {
	// File is the index of the file in Plan.Files.
	File       int
	Start, End int64
}

// Plan is one batch of a Source: the files it reads, and what the next
// batch needs to know which files are new. It is recorded in the
// driver's metadata checkpoint, so a restarted driver rereads a batch
// from the same files and plans the next one after it.
//
// A file is new if it is not in Seen (or is there with another size,
// modification time or ETag: it was rewritten) and was modified at
// Floor or later. Seen holds every file read or skipped with a
// modification time at or after Floor, and Floor trails the latest
// modification time seen (Latest) by the Lookback option, so a plan's
// size is bounded by the files that appear within Lookback.
type Plan struct {
	// Files are this batch's files, in (ModTime, Name) order.
	Files []File
	// Parts are the batch's partitions.
	Parts []Part
	// Seen are the files read (or skipped by StartAtEnd) up to this
	// batch, those modified at Floor or later.
	Seen []File
	// Floor is the oldest modification time (Unix ns) of a file still
	// considered; older ones are ignored.
	Floor int64
	// Latest is the latest modification time seen.
	Latest int64
}

// planConfig is what planning depends on.
type planConfig struct {
	maxFiles  int   // most files per batch (> 0)
	maxBytes  int64 // most bytes per batch (> 0), but at least one file
	lookback  time.Duration
	maxSeen   int   // most entries in Plan.Seen, at least (ties are kept)
	splitSize int64 // split files larger than this into parts (0: never)
	skipFirst bool  // the first plan skips the files already there
}

// plan makes the next plan from the previous one (if hasPrev) and a
// listing of the directory: a pure function, so that the tests can run
// it over any sequence of listings.
func plan(prev Plan, hasPrev bool, listing []File, cfg planConfig) Plan {
	seen := make(map[string]File, len(prev.Seen))
	for _, f := range prev.Seen {
		seen[f.Name] = f
	}
	var cands []File
	for _, f := range listing {
		if f.ModTime < prev.Floor {
			continue // older than what is still tracked: read or skipped long ago
		}
		if s, ok := seen[f.Name]; ok && s.same(f) {
			continue
		}
		cands = append(cands, f)
	}
	slices.SortFunc(cands, byTime)
	var take []File
	if hasPrev || !cfg.skipFirst {
		var bytes int64
		for _, f := range cands {
			if len(take) == cfg.maxFiles || (len(take) > 0 && bytes+f.Size > cfg.maxBytes) {
				break
			}
			take = append(take, f)
			bytes += f.Size
		}
	} else {
		take = cands // marked seen without being read
	}
	next := Plan{Floor: prev.Floor, Latest: prev.Latest}
	if hasPrev || !cfg.skipFirst {
		next.Files = take
		next.Parts = split(take, cfg.splitSize)
	}
	for _, f := range take {
		seen[f.Name] = f
		next.Latest = max(next.Latest, f.ModTime)
	}
	// The floor follows Latest at Lookback, but never passes a file not
	// taken yet (MaxFiles held it back) nor goes back.
	floor := next.Latest - int64(cfg.lookback)
	if len(take) < len(cands) {
		floor = min(floor, cands[len(take)].ModTime)
	}
	next.Floor = max(next.Floor, floor)
	next.Seen = make([]File, 0, len(seen))
	for _, f := range seen {
		if f.ModTime >= next.Floor {
			next.Seen = append(next.Seen, f)
		}
	}
	slices.SortFunc(next.Seen, byTime)
	if cfg.maxSeen > 0 && len(next.Seen) > cfg.maxSeen {
		// Too many files within Lookback: the floor rises to keep the
		// newest maxSeen (and all those as new as the last kept).
		f := next.Seen[len(next.Seen)-cfg.maxSeen].ModTime
		if len(take) < len(cands) {
			f = min(f, cands[len(take)].ModTime)
		}
		next.Floor = max(next.Floor, f)
		i, _ := slices.BinarySearchFunc(next.Seen, next.Floor, func(f File, t int64) int { return cmp.Compare(f.ModTime, t) })
		next.Seen = next.Seen[i:]
	}
	return next
}

func byTime(a, b File) int {
	return cmp.Or(cmp.Compare(a.ModTime, b.ModTime), cmp.Compare(a.Name, b.Name))
}

// split cuts files into parts of splitSize bytes (0: one part per file).
// Empty files have no part.
func split(files []File, splitSize int64) []Part {
	var parts []Part
	for i, f := range files {
		if f.Size == 0 {
			continue
		}
		if splitSize <= 0 || f.Size <= splitSize {
			parts = append(parts, Part{File: i, Start: 0, End: f.Size})
			continue
		}
		for s := int64(0); s < f.Size; s += splitSize {
			parts = append(parts, Part{File: i, Start: s, End: min(s+splitSize, f.Size)})
		}
	}
	return parts
}
