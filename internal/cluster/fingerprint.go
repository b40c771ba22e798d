package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// Fingerprint identifies what a worker will run: the stream graph it
// built, the job's configuration and arguments, and the binary. The driver
// refuses a worker whose fingerprint differs from its own, since such a
// worker would compute different datasets under the same IDs.
type Fingerprint struct {
	// Graph has one line per stream node, in graph order: its position,
	// kind, name, record type, slide and parents.
	Graph []string
	// Config is the job's configuration that shapes datasets (batch
	// interval, parallelism).
	Config string
	// Args are the program's arguments.
	Args []string
	// Binary is the SHA-256 of the executable.
	Binary string
}

// Diff describes the first difference between the driver's fingerprint
// (f) and a worker's (w), or returns "" when they are equal.
func (f Fingerprint) Diff(w Fingerprint) string {
	switch {
	case f.Binary != w.Binary:
		return fmt.Sprintf("the binaries differ (driver %s, worker %s): run the same build everywhere", short(f.Binary), short(w.Binary))
	case !slices.Equal(f.Args, w.Args):
		return fmt.Sprintf("the job arguments differ (driver %q, worker %q)", f.Args, w.Args)
	case f.Config != w.Config:
		return fmt.Sprintf("the configuration differs (driver %s, worker %s)", f.Config, w.Config)
	}
	for i := 0; i < max(len(f.Graph), len(w.Graph)); i++ {
		var a, b string
		if i < len(f.Graph) {
			a = f.Graph[i]
		}
		if i < len(w.Graph) {
			b = w.Graph[i]
		}
		if a != b {
			return fmt.Sprintf("the stream graphs differ at node %d (driver %q, worker %q): graph construction must be deterministic", i+1, orNone(a), orNone(b))
		}
	}
	return ""
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var binaryHash struct {
	once sync.Once
	sum  string
	err  error
}

// BinaryHash returns the SHA-256 of the running executable (computed once).
func BinaryHash() (string, error) {
	binaryHash.once.Do(func() {
		path, err := os.Executable()
		if err != nil {
			binaryHash.err = fmt.Errorf("cluster: finding the executable: %w", err)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			binaryHash.err = fmt.Errorf("cluster: reading the executable: %w", err)
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			binaryHash.err = fmt.Errorf("cluster: reading the executable: %w", err)
			return
		}
		binaryHash.sum = hex.EncodeToString(h.Sum(nil))
	})
	return binaryHash.sum, binaryHash.err
}

func durationOf(n int64) time.Duration { return time.Duration(max(n, 0)) }
