package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// encodeRows encodes a snapshot of the given rows with columns a (int8,
// the key) and b (text).
func encodeRows(t testing.TB, rows ...[][]byte) []byte {
	t.Helper()
	fields := []pgconn.FieldDescription{{Name: "a", DataTypeOID: pgtype.Int8OID}, {Name: "b", DataTypeOID: pgtype.TextOID}}
	e := newEncoder("s.t", fields, []int{0}, 1<<20)
	for _, r := range rows {
		if err := e.add(r); err != nil {
			t.Fatal(err)
		}
	}
	return e.buf
}

func TestSnapshotRoundTrip(t *testing.T) {
	rows := [][][]byte{{[]byte("1"), []byte("x")}, {[]byte("2"), nil}, {[]byte("3"), {}}}
	snap, err := decodeSnapshot(encodeRows(t, rows...))
	if err != nil {
		t.Fatal(err)
	}
	if snap.label != "s.t" || len(snap.fields) != 2 || snap.fields[1].Name != "b" || snap.fields[1].DataTypeOID != pgtype.TextOID || len(snap.keys) != 1 {
		t.Fatalf("header %q %v %v", snap.label, snap.fields, snap.keys)
	}
	var vals [][]byte
	for i, want := range rows {
		var ok bool
		if vals, ok, err = snap.next(vals); err != nil || !ok {
			t.Fatalf("row %d: %v %v", i, ok, err)
		}
		for j := range want {
			if !bytes.Equal(vals[j], want[j]) || (vals[j] == nil) != (want[j] == nil) {
				t.Errorf("row %d value %d = %q (nil %v), want %q (nil %v)", i, j, vals[j], vals[j] == nil, want[j], want[j] == nil)
			}
		}
		if pos := snap.position(int64(i), vals); pos != fmt.Sprintf("s.t:%d", i+1) {
			t.Errorf("row %d at %q", i, pos)
		}
	}
	if _, ok, err := snap.next(vals); ok || err != nil {
		t.Fatalf("after the last row: %v %v", ok, err)
	}
	r := &row{fields: snap.fields, values: rows[1], types: pgtype.NewMap()}
	if got := string(snap.json(rows[1])); got != `{"a":"2","b":null}` {
		t.Errorf("json %s", got)
	}
	if v, err := r.Values(); err != nil || v[0] != int64(2) || v[1] != nil {
		t.Errorf("Values = %v, %v", v, err)
	}
	var a int64
	var b *string
	if err := r.Scan(&a, &b); err != nil || a != 2 || b != nil {
		t.Errorf("Scan = %v: %d %v", err, a, b)
	}
	if err := r.Scan(&a); err == nil {
		t.Error("Scan into too few destinations succeeded")
	}
}

func TestSnapshotLimit(t *testing.T) {
	e := newEncoder("t", []pgconn.FieldDescription{{Name: "a", DataTypeOID: pgtype.TextOID}}, nil, 50)
	var err error
	n := 0
	for ; err == nil && n < 100; n++ {
		err = e.add([][]byte{[]byte("0123456789")})
	}
	if !errors.Is(err, errTooBig) || n > 5 {
		t.Fatalf("after %d rows: %v, want errTooBig within 50 bytes", n, err)
	}
	if err := e.add([][]byte{nil, nil}); err == nil {
		t.Fatal("a row of 2 values for 1 column was taken")
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	good := encodeRows(t, [][]byte{[]byte("1"), []byte("hello")})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("sps2"), good[4:]...),
		"truncated": good[:len(good)-2],
		"columns":   append([]byte("sps1\x00\xff\xff\xff\x0f"), good[5:]...),
		"no column": []byte("sps1\x00\x00\x00\x01"),
	} {
		snap, err := decodeSnapshot(b)
		for err == nil {
			var ok bool
			if _, ok, err = snap.next(nil); !ok && err == nil {
				break
			}
		}
		if !errors.Is(err, errCorrupt) {
			t.Errorf("%s: %v, want errCorrupt", name, err)
		}
	}
}

// FuzzDecodeSnapshot: any bytes decode to rows or errCorrupt, without a
// panic or a loop, and the values of rows it decodes are within the input.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeRows(f))
	f.Add(encodeRows(f, [][]byte{[]byte("1"), []byte("x")}, [][]byte{[]byte("2"), nil}))
	f.Add([]byte("sps1\x00\x00\x00\x01"))
	f.Add([]byte("sps1\x01t\x01\x01a\x17\x01\x00\x00\x02x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := decodeSnapshot(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v is not errCorrupt", err)
			}
			return
		}
		for _, k := range snap.keys {
			if k < 0 || k >= len(snap.fields) {
				t.Fatalf("key column %d of %d", k, len(snap.fields))
			}
		}
		var vals [][]byte
		total := 0
		for i := 0; ; i++ {
			var ok bool
			vals, ok, err = snap.next(vals)
			if err != nil {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("error %v is not errCorrupt", err)
				}
				return
			}
			if !ok {
				return
			}
			if len(vals) != len(snap.fields) {
				t.Fatalf("row %d has %d values for %d columns", i, len(vals), len(snap.fields))
			}
			for _, v := range vals {
				total += len(v)
			}
			if total > len(b) || i > len(b) {
				t.Fatalf("%d rows of %d bytes from %d bytes", i, total, len(b))
			}
			snap.position(int64(i), vals)
			snap.json(vals)
		}
	})
}
