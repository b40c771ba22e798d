package postgres

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// A snapshot is encoded as (all numbers unsigned varints):
//
//	"sps1"                    magic and version
//	len label                 the table's name, or "query"
//	n {len name, oid}         the columns: name and type OID
//	k {column}                the primary key's columns (indexes), if any
//	{value}...                the rows, value after value, row after row:
//	                          0 for NULL, else 1+len and the text form
//
// Values are in PostgreSQL's text format (see doc.go): the worker decodes
// them with pgx's default type map, whatever the types.
const snapshotMagic = "sps1"

// maxColumns is PostgreSQL's limit on the columns of a result.
const maxColumns = 1664

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt snapshot")

// encoder builds a snapshot, refusing to grow past limit bytes.
type encoder struct {
	buf   []byte
	limit int
	rows  int64
	cols  int
}

func newEncoder(label string, fields []pgconn.FieldDescription, keys []int, limit int) *encoder {
	e := &encoder{limit: limit, cols: len(fields)}
	e.buf = append(e.buf, snapshotMagic...)
	e.buf = appendString(e.buf, label)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(fields)))
	for _, f := range fields {
		e.buf = appendString(e.buf, f.Name)
		e.buf = binary.AppendUvarint(e.buf, uint64(f.DataTypeOID))
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(keys)))
	for _, k := range keys {
		e.buf = binary.AppendUvarint(e.buf, uint64(k))
	}
	return e
}

// errTooBig is returned by add when the snapshot would pass its limit.
var errTooBig = errors.New("snapshot too big")

// add appends one row, given as pgx's raw values (nil: NULL).
func (e *encoder) add(values [][]byte) error {
	if len(values) != e.cols {
		return fmt.Errorf("row %d has %d values for %d columns", e.rows+1, len(values), e.cols)
	}
	for _, v := range values {
		if v == nil {
			e.buf = append(e.buf, 0)
			continue
		}
		e.buf = binary.AppendUvarint(e.buf, uint64(len(v))+1)
		e.buf = append(e.buf, v...)
	}
	e.rows++
	if len(e.buf) > e.limit {
		return errTooBig
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// snapshot is a decoded snapshot's header and a cursor over its rows.
type snapshot struct {
	label  string
	fields []pgconn.FieldDescription
	keys   []int  // indexes into fields
	rest   []byte // the rows not yet read
	row    int64  // rows read
}

// decodeSnapshot decodes a snapshot's header; next reads its rows.
func decodeSnapshot(b []byte) (*snapshot, error) {
	if !strings.HasPrefix(string(b), snapshotMagic) {
		return nil, fmt.Errorf("%w: no %q header", errCorrupt, snapshotMagic)
	}
	d := &reader{b: b[len(snapshotMagic):]}
	s := &snapshot{label: d.string()}
	n := d.uint(maxColumns)
	s.fields = make([]pgconn.FieldDescription, 0, min(n, uint64(len(d.b))))
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.string()
		oid := d.uint(1<<32 - 1)
		s.fields = append(s.fields, pgconn.FieldDescription{Name: name, DataTypeOID: uint32(oid), Format: pgx.TextFormatCode})
	}
	k := d.uint(uint64(len(s.fields)))
	for i := uint64(0); i < k && d.err == nil; i++ {
		s.keys = append(s.keys, int(d.uint(uint64(len(s.fields))-1)))
	}
	if d.err != nil {
		return nil, d.err
	}
	s.rest = d.b
	return s, nil
}

// next reads the next row into values (reused if it has room), which
// point into the snapshot's bytes. It returns false at the end.
func (s *snapshot) next(values [][]byte) ([][]byte, bool, error) {
	if len(s.rest) == 0 {
		return values, false, nil
	}
	if len(s.fields) == 0 { // rows of no columns would take no bytes
		return values, false, fmt.Errorf("%w: rows without columns", errCorrupt)
	}
	d := &reader{b: s.rest}
	values = values[:0]
	for range s.fields {
		n := d.uint(1 << 40)
		if d.err != nil {
			break
		}
		if n == 0 {
			values = append(values, nil)
			continue
		}
		if n-1 > uint64(len(d.b)) {
			d.err = fmt.Errorf("%w: value of %d bytes in %d", errCorrupt, n-1, len(d.b))
			break
		}
		v := d.b[: n-1 : n-1]
		d.b = d.b[n-1:]
		values = append(values, v)
	}
	if d.err != nil {
		return values, false, fmt.Errorf("row %d: %w", s.row+1, d.err)
	}
	s.rest = d.b
	s.row++
	return values, true, nil
}

// reader reads varints and strings, keeping the first error.
type reader struct {
	b   []byte
	err error
}

// uint reads a varint no greater than limit.
func (r *reader) uint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", errCorrupt)
		return 0
	}
	if v > limit {
		r.err = fmt.Errorf("%w: %d is more than %d", errCorrupt, v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uint(1 << 40)
	if r.err != nil || n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: string of %d bytes in %d", errCorrupt, n, len(r.b))
		}
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// position says where row i (from 0) of the snapshot is: the table and
// its primary key's values ("shop.campaigns:42"), else its row number
// ("query:row 7", from 1).
func (s *snapshot) position(i int64, values [][]byte) string {
	if len(s.keys) == 0 {
		return fmt.Sprintf("%s:row %d", s.label, i+1)
	}
	parts := make([]string, len(s.keys))
	for j, k := range s.keys {
		if values[k] == nil {
			parts[j] = "NULL"
		} else {
			parts[j] = string(values[k])
		}
	}
	return s.label + ":" + strings.Join(parts, ",")
}

// json renders a row for a dead-letter record: an object of the columns'
// text values (null for NULL), in column order.
func (s *snapshot) json(values [][]byte) []byte {
	b := []byte{'{'}
	for i, f := range s.fields {
		if i > 0 {
			b = append(b, ',')
		}
		name, _ := json.Marshal(f.Name)
		b = append(b, name...)
		b = append(b, ':')
		if values[i] == nil {
			b = append(b, "null"...)
			continue
		}
		v, _ := json.Marshal(string(values[i]))
		b = append(b, v...)
	}
	return append(b, '}')
}

// row is one row of a snapshot as a scan function sees it: a
// pgx.CollectableRow, as pgx.RowToStructByName and friends take.
type row struct {
	fields []pgconn.FieldDescription
	values [][]byte
	types  *pgtype.Map
}

var _ pgx.CollectableRow = (*row)(nil)

func (r *row) FieldDescriptions() []pgconn.FieldDescription { return r.fields }
func (r *row) RawValues() [][]byte                          { return r.values }

// Scan scans the row's values into dest, as pgx.Rows.Scan does (a nil
// destination skips its column).
func (r *row) Scan(dest ...any) error {
	if len(dest) != len(r.fields) {
		return fmt.Errorf("number of field descriptions must equal number of destinations, got %d and %d", len(r.fields), len(dest))
	}
	for i, d := range dest {
		if d == nil {
			continue
		}
		if err := r.types.Scan(r.fields[i].DataTypeOID, pgx.TextFormatCode, r.values[i], d); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: r.fields[i].Name, Err: err}
		}
	}
	return nil
}

// Values decodes the row's values as pgx.Rows.Values does: the Go value
// of each known type, the text of the others.
func (r *row) Values() ([]any, error) {
	out := make([]any, len(r.fields))
	for i, f := range r.fields {
		v := r.values[i]
		if v == nil {
			continue
		}
		t, ok := r.types.TypeForOID(f.DataTypeOID)
		if !ok {
			out[i] = string(v)
			continue
		}
		val, err := t.Codec.DecodeValue(r.types, f.DataTypeOID, pgx.TextFormatCode, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		out[i] = val
	}
	return out, nil
}
