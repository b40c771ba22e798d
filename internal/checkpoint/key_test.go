package checkpoint

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidKey checks that a valid key names a file inside a Dir's root,
// the same file whatever the key's spelling (filepath.Join cleans nothing
// away), and that List walks back to the same key.
func FuzzValidKey(f *testing.F) {
	for _, k := range append(invalidKeys, listKeys...) {
		f.Add(k)
	}
	f.Add("a/..b/.c")
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		if validPrefix(key) != nil {
			t.Fatalf("key %q is valid but not as a prefix", key)
		}
		const root = "/ckpt"
		p := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, p)
		if err != nil || filepath.ToSlash(rel) != key || strings.HasPrefix(rel, "..") {
			t.Fatalf("key %q names %q (relative %q, %v)", key, p, rel, err)
		}
		if isTemp(key) || strings.Contains(key, tempMark) {
			t.Fatalf("key %q looks like a temporary file", key)
		}
	})
}
