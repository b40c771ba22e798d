package codec_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
)

const benchN = 1024

func benchStrings() []string {
	vs := make([]string, benchN)
	for i := range vs {
		vs[i] = fmt.Sprintf("user-%010d", i*7919)
	}
	return vs
}

func benchInts() []int64 {
	vs := make([]int64, benchN)
	for i := range vs {
		vs[i] = int64(i*i*31) - 1<<20
	}
	return vs
}

func benchPairs() []KV[string, int64] {
	s, n := benchStrings(), benchInts()
	vs := make([]KV[string, int64], benchN)
	for i := range vs {
		vs[i] = KV[string, int64]{s[i], n[i]}
	}
	return vs
}

func benchEncode[T any](b *testing.B, c codec.Codec[T], vs []T) {
	buf := c.Append(nil, vs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = c.Append(buf[:0], vs)
	}
}

func benchDecode[T any](b *testing.B, c codec.Codec[T], vs []T) {
	buf := c.Append(nil, vs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeString(b *testing.B) { benchEncode(b, codec.For[string](), benchStrings()) }
func BenchmarkDecodeString(b *testing.B) { benchDecode(b, codec.For[string](), benchStrings()) }
func BenchmarkEncodeInt64(b *testing.B)  { benchEncode(b, codec.For[int64](), benchInts()) }
func BenchmarkDecodeInt64(b *testing.B)  { benchDecode(b, codec.For[int64](), benchInts()) }
func BenchmarkEncodePair(b *testing.B)   { benchEncode(b, codec.For[KV[string, int64]](), benchPairs()) }
func BenchmarkDecodePair(b *testing.B)   { benchDecode(b, codec.For[KV[string, int64]](), benchPairs()) }

func BenchmarkHasherString(b *testing.B) {
	h, vs := codec.Hasher[string](), benchStrings()
	b.SetBytes(int64(len(vs[0])))
	var sink uint64
	i := 0
	for b.Loop() {
		sink ^= h(vs[i%benchN])
		i++
	}
	_ = sink
}
