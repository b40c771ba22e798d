package blockstore

import "testing"

// FuzzReadSpill feeds arbitrary bytes to the spill file reader and the
// record decoder behind it: they must return an error, never panic.
func FuzzReadSpill(f *testing.F) {
	seed, err := encodeSpill(make([]byte, headerLen), strs, block(0, 3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("slb1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, err := parseSpill(b)
		if err != nil {
			return
		}
		if len(payload) != len(b)-headerLen {
			t.Fatalf("payload of %d bytes from a %d-byte file", len(payload), len(b))
		}
		strs.Decode(payload)
	})
}
