package file

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// lineReader reads the lines of one part of a file: those that start in
// [off, end). Each line is returned without its "\n" (and "\r\n"), and
// cut at max bytes if longer (tooLong then says so), so that memory stays
// bounded whatever the file holds.
type lineReader struct {
	br  *bufio.Reader
	max int
	off int64 // offset of the next line
	end int64
	buf []byte
}

// newLineReader reads the lines of r that start in [start, end), r being
// the file from offset start-1 if start > 0 (the byte before start says
// whether start begins a line), from 0 otherwise.
func newLineReader(r io.Reader, start, end int64, max int) (*lineReader, error) {
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max, off: start, end: end}
	if start == 0 {
		return lr, nil
	}
	c, err := lr.br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("reading byte %d: %w", start-1, eofIsUnexpected(err))
	}
	if c == '\n' {
		return lr, nil
	}
	// start is inside a line, which the part before reads: skip it.
	for {
		chunk, err := lr.br.ReadSlice('\n')
		lr.off += int64(len(chunk))
		if err == nil || err == io.EOF {
			return lr, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next line and its offset; io.EOF after the last.
// The line is valid until the next call.
func (lr *lineReader) next() (line []byte, at int64, tooLong bool, err error) {
	at = lr.off
	if at >= lr.end {
		return nil, at, false, io.EOF
	}
	lr.buf = lr.buf[:0]
	n, nl := 0, false // the line's length with its "\n", and whether it has one
	for {
		chunk, err := lr.br.ReadSlice('\n')
		lr.off += int64(len(chunk))
		n += len(chunk)
		if room := lr.max + 2 - len(lr.buf); room > 0 { // the line, and "\r\n"
			lr.buf = append(lr.buf, chunk[:min(room, len(chunk))]...)
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			nl = true
		case io.EOF:
			if n == 0 {
				return nil, at, false, io.EOF
			}
			// a last line without "\n"
		default:
			return nil, at, false, err
		}
		break
	}
	if nl {
		n--
	}
	line = lr.buf[:min(n, len(lr.buf))]
	if len(line) == n && n > 0 && line[n-1] == '\r' {
		n--
		line = line[:n]
	}
	if n > lr.max {
		return line[:lr.max], at, true, nil
	}
	return line, at, false, nil
}

// checkLine says what is wrong with a line, if anything, before it is
// decoded.
func checkLine(line []byte, tooLong bool, max int) error {
	if tooLong {
		return fmt.Errorf("line longer than %d bytes (the value holds the first %d)", max, max)
	}
	if !utf8.Valid(line) {
		return errors.New("invalid UTF-8")
	}
	return nil
}

// errRecordTooLong fails the read of a CSV file whose record outgrows
// every limit (an unclosed quote, most likely): the parser cannot go on
// after it.
var errRecordTooLong = errors.New("CSV record too long")

// window is the reader under a csv.Reader: it keeps the bytes read since
// the start of the current record, so that a bad record's bad bytes can go
// to the dead-letter sink. It holds at most limit bytes.
type window struct {
	r     io.Reader
	buf   []byte
	base  int64 // the offset of buf[0]
	limit int
}

func (w *window) Read(p []byte) (int, error) {
	if len(w.buf) > w.limit {
		return 0, errRecordTooLong
	}
	n, err := w.r.Read(p)
	w.buf = append(w.buf, p[:n]...)
	return n, err
}

// take returns a copy of bytes [from, to) and forgets those before to.
func (w *window) take(from, to int64) []byte {
	lo, hi := int(from-w.base), int(to-w.base)
	if lo < 0 || hi > len(w.buf) || lo > hi {
		panic(fmt.Sprintf("file: window [%d, %d) of [%d, %d)", from, to, w.base, w.base+int64(len(w.buf))))
	}
	out := bytes.TrimRight(w.buf[lo:hi], "\r\n")
	out = append([]byte(nil), out...)
	w.buf = append(w.buf[:0], w.buf[hi:]...)
	w.base = to
	return out
}

// csvRecord is one record of a CSV file, or what is wrong with it.
type csvRecord struct {
	fields []string
	raw    []byte
	line   int // the line it starts on
	err    error
}

// csvReader reads a CSV file's records one by one.
type csvReader struct {
	w    *window
	cr   *csv.Reader
	max  int
	last int // the line of the last record
}

func newCSVReader(r io.Reader, comma rune, fields, max int) *csvReader {
	// A record is at most max bytes to be good, but the parser may read
	// ahead of it by a buffer.
	w := &window{r: r, limit: max + 64<<10}
	cr := csv.NewReader(w)
	cr.Comma = comma
	cr.FieldsPerRecord = fields
	return &csvReader{w: w, cr: cr, max: max}
}

// next returns the next record (its err set if it is bad); io.EOF after
// the last; other errors end the file.
func (c *csvReader) next() (csvRecord, error) {
	from := c.cr.InputOffset()
	fields, err := c.cr.Read()
	if err == io.EOF {
		return csvRecord{}, io.EOF
	}
	var pe *csv.ParseError
	if err != nil && !errors.As(err, &pe) {
		return csvRecord{}, err
	}
	if errors.Is(err, errRecordTooLong) {
		return csvRecord{}, err
	}
	to := c.cr.InputOffset()
	rec := csvRecord{fields: fields, raw: c.w.take(from, to)}
	switch {
	case pe != nil:
		rec.line, rec.err = pe.StartLine, pe
	default:
		rec.line, _ = c.cr.FieldPos(0)
		if to-from > int64(c.max)+2 {
			rec.err = fmt.Errorf("record longer than %d bytes", c.max)
		}
		for _, f := range fields {
			if rec.err == nil && !utf8.ValidString(f) {
				rec.err = errors.New("invalid UTF-8")
			}
		}
	}
	if rec.err != nil {
		rec.fields = nil
	}
	c.last = rec.line
	return rec, nil
}

// line returns the line of the last record read.
func (c *csvReader) line() int { return c.last }
