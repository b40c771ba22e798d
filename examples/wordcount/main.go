// Command wordcount is the README's example job: word counts over a 30 s
// window sliding every second, read from a TCP text server.
//
//	nc -lk 9999 &
//	go run ./examples/wordcount --master 'local[4]'
package main

import (
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

func build(c *sluice.Context) {
	lines := sluice.SocketText(c, "localhost:9999")
	words := sluice.FlatMap(lines, strings.Fields)
	pairs := sluice.Map(words, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	add := func(a, b int) int { return a + b }
	sub := func(a, b int) int { return a - b }
	counts := sluice.ReduceByKeyAndWindow(pairs, add, sub, 30*time.Second, time.Second,
		sluice.Named("word-counts")) // incremental window: state needs a stable name
	sluice.Print(counts, 10)
}

func main() {
	sluice.Main(build, sluice.Batch(time.Second)) // flags: --master local[4], --batch, --duration
}
