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

// Celsius has an unexported field, which the CBOR fallback would lose: its
// SluiceCodec encodes it as its wire form, an int64 of millidegrees.
type Celsius struct{ milli int64 }

func (Celsius) SluiceCodec() any {
	return codec.Convert(codec.For[int64](),
		func(c Celsius) int64 { return c.milli },
		func(m int64) Celsius { return Celsius{milli: m} })
}

func ExampleConvert() {
	c := codec.For[Celsius]()
	buf := c.Append(nil, []Celsius{{milli: 21500}})
	vs, err := c.Decode(buf)
	fmt.Println(vs[0].milli, err, codec.Portable(c))
	// Output:
	// 21500 <nil> <nil>
}

type point struct{ x, y int }

func ExamplePortable() {
	c := codec.For[point]() // for local mode: records never leave the process
	fmt.Println(codec.Portable(c))
	// Output:
	// codec: type codec_test.point has unexported field x and no SluiceCodec: it cannot leave the process (export the field, or give the type MarshalBinary and UnmarshalBinary methods)
}
