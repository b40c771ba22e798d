package rpc

import (
	"testing"
)

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal: it must return an error
// or a value that encodes again, never panic or run away with memory.
//
//	go test -fuzz=FuzzUnmarshal ./internal/rpc
func FuzzUnmarshal(f *testing.F) {
	seed, err := Marshal(sampleMessage())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0xa0})                         // {}
	f.Add([]byte{0x9a, 0x00, 0x20, 0x00, 0x00}) // a huge array header
	f.Add([]byte{0xbf, 0xff})                   // an indefinite-length map
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		if err := Unmarshal(b, &m); err != nil {
			return
		}
		if _, err := Marshal(m); err != nil {
			// time.Time outside RFC 3339's years cannot be encoded as
			// text; that is an encoding error, not a decoder bug.
			t.Logf("decoded a message that does not encode again: %v", err)
		}
	})
}
