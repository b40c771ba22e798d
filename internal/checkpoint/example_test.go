package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/sluicehq/sluice/internal/checkpoint"
)

// A driver writes a state checkpoint, a metadata checkpoint and a pointer,
// then finds the latest checkpoint again, as a restarted driver would.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ckpt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := checkpoint.Open(ctx, dir) // or "s3://bucket/prefix?endpoint=…"
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for part, state := range []string{"a=1", "b=2"} {
		key := fmt.Sprintf("state/counts/1700000010000/part-%05d", part)
		if err := store.Put(ctx, key, []byte(state)); err != nil {
			log.Fatal(err)
		}
	}
	if err := store.Put(ctx, "metadata/1700000010000", []byte(`{"batch":1700000010000}`)); err != nil {
		log.Fatal(err)
	}
	if err := store.Put(ctx, "latest", []byte("metadata/1700000010000")); err != nil {
		log.Fatal(err)
	}

	// After a restart.
	latest, err := store.Get(ctx, "latest")
	if err != nil {
		log.Fatal(err)
	}
	meta, err := store.Get(ctx, string(latest))
	if err != nil {
		log.Fatal(err)
	}
	parts, err := store.List(ctx, "state/counts/1700000010000/")
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.Get(ctx, "metadata/1700000000000")
	fmt.Println(string(meta))
	fmt.Println(parts)
	fmt.Println(errors.Is(err, checkpoint.ErrNotFound))
	// Output:
	// {"batch":1700000010000}
	// [state/counts/1700000010000/part-00000 state/counts/1700000010000/part-00001]
	// true
}

// A test makes the third state checkpoint fail, as a full disk would.
func ExampleFaulty() {
	ctx := context.Background()
	store := checkpoint.NewFaulty(checkpoint.NewMem())
	store.Add(checkpoint.Fault{Op: checkpoint.OpPut, Prefix: "state/", After: 2, Times: 1})
	for batch := range 4 {
		err := store.Put(ctx, fmt.Sprintf("state/op/%d/part-00000", batch), []byte("s"))
		fmt.Println(batch, errors.Is(err, checkpoint.ErrInjected))
	}
	keys, _ := store.List(ctx, "state/")
	fmt.Println(keys)
	// Output:
	// 0 false
	// 1 false
	// 2 true
	// 3 false
	// [state/op/0/part-00000 state/op/1/part-00000 state/op/3/part-00000]
}
