package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/source/file"
)

// BenchmarkJSONLines reads an 8 MiB file of JSON lines in one part.
func BenchmarkJSONLines(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; sb.Len() < 8<<20; i++ {
		fmt.Fprintf(&sb, "{\"id\":%d,\"kind\":\"purchase-%d\"}\n", i, i%97)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"text", "json"} {
		b.Run(name, func(b *testing.B) {
			var read func(p file.Plan) (int, error)
			if name == "text" {
				src := file.Text(file.Dir(dir))
				read = func(p file.Plan) (int, error) { r, _, err := src.Read(ctx, p, 0); return len(r), err }
			} else {
				src := file.JSONLines[event](file.Dir(dir))
				read = func(p file.Plan) (int, error) { r, _, err := src.Read(ctx, p, 0); return len(r), err }
			}
			p, err := file.Text(file.Dir(dir)).Plan(ctx, sluice.PlanRequest[file.Plan]{Limit: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sb.Len()))
			for b.Loop() {
				if _, err := read(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
