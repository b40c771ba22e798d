package codec_test

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/codec"
)

func Example() {
	c := codec.For[string]()
	buf := c.Append(nil, []string{"a", "bc"})
	fmt.Printf("% x\n", buf)

	vs, err := c.Decode(buf)
	fmt.Println(vs, err)

	_, err = c.Decode(buf[:4])
	fmt.Println(errors.Is(err, codec.ErrCorrupt))
	// Output:
	// 02 01 61 02 62 63
	// [a bc] <nil>
	// true
}

// KV shows how a generic pair type gets a fast codec through Composite.
type KV[K comparable, V any] struct {
	Key   K
	Value V
}

func (KV[K, V]) SluiceCodec() any {
	return codec.Pair(codec.For[K](), codec.For[V](),
		func(kv KV[K, V]) (K, V) { return kv.Key, kv.Value },
		func(k K, v V) KV[K, V] { return KV[K, V]{Key: k, Value: v} })
}

func ExamplePair() {
	c := codec.For[KV[string, int64]]()
	buf := c.Append(nil, []KV[string, int64]{{"a", 1}, {"b", -1}})
	fmt.Printf("% x\n", buf)

	vs, err := c.Decode(buf)
	fmt.Println(vs, err)
	// Output:
	// 02 01 61 02 01 62 01
	// [{a 1} {b -1}] <nil>
}
