package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice"
)

// Defaults of the options.
const (
	DefaultMaxFilesPerBatch = 1000
	DefaultMaxBytesPerBatch = 1 << 30
	DefaultLookback         = time.Hour
	DefaultMaxSeen          = 20000
	DefaultMaxLineLength    = 1 << 20
	DefaultMaxListed        = 200000
)

// config is what the options set.
type config struct {
	planConfig
	maxLine   int
	maxListed int
	header    bool
	comma     rune
	fields    int
	err       error // an invalid option
}

// Option configures a Source.
type Option func(*config)

func invalid(c *config, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("file: "+format, args...)
	}
}

// MaxFilesPerBatch bounds the files a batch reads (default 1000); the
// others wait for the next batches, oldest first.
func MaxFilesPerBatch(n int) Option {
	return func(c *config) {
		if n <= 0 {
			invalid(c, "MaxFilesPerBatch(%d): must be positive", n)
		}
		c.maxFiles = n
	}
}

// MaxBytesPerBatch bounds the bytes a batch reads (default 1 GiB), except
// that a batch reads at least one file whatever its size.
func MaxBytesPerBatch(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			invalid(c, "MaxBytesPerBatch(%d): must be positive", n)
		}
		c.maxBytes = n
	}
}

// SkipExisting makes a new job (one not resumed from a checkpoint) skip
// the files already in the directory when its first batch is planned:
// only those that appear later are read. By default they are read.
func SkipExisting() Option { return func(c *config) { c.skipFirst = true } }

// Lookback is how much older than the newest file seen a new file may be
// and still be read (default 1 hour): files appear by being renamed in
// (or PUT), which keeps the modification time they were written with, so
// a file written slowly may appear after newer ones. A file modified more
// than Lookback before the newest file seen is ignored; writers that may
// be that late should set the time when renaming (os.Chtimes). The plan
// remembers the files of the last Lookback, up to MaxSeen.
func Lookback(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			invalid(c, "Lookback(%v): negative", d)
		}
		c.lookback = d
	}
}

// MaxSeen bounds the files a plan remembers (default 20000, about 100
// bytes each in every batch's metadata checkpoint): when more than that
// appeared within Lookback, the oldest are forgotten, as if Lookback were
// shorter.
func MaxSeen(n int) Option {
	return func(c *config) {
		if n <= 0 {
			invalid(c, "MaxSeen(%d): must be positive", n)
		}
		c.maxSeen = n
	}
}

// MaxLineLength bounds a line (a CSV record) in bytes (default 1 MiB): a
// longer one is a bad record, whose value holds its first MaxLineLength
// bytes.
func MaxLineLength(n int) Option {
	return func(c *config) {
		if n <= 0 {
			invalid(c, "MaxLineLength(%d): must be positive", n)
		}
		c.maxLine = n
	}
}

// MaxListed bounds the files the directory may hold (default 200000): a
// listing with more fails the batch. Move files read long ago elsewhere.
func MaxListed(n int) Option {
	return func(c *config) {
		if n <= 0 {
			invalid(c, "MaxListed(%d): must be positive", n)
		}
		c.maxListed = n
	}
}

// SplitSize splits the files of line formats larger than n bytes into
// parts of about n bytes (at line boundaries), read by tasks of their own;
// by default (0) each file is one part. CSV files are never split (a
// quoted field may hold a newline).
func SplitSize(n int64) Option {
	return func(c *config) {
		if n < 0 {
			invalid(c, "SplitSize(%d): negative", n)
		}
		c.splitSize = n
	}
}

// Header makes the first record of every CSV file its header: not a
// record itself, it is passed to CSVFunc's decode with every record.
func Header() Option { return func(c *config) { c.header = true } }

// Comma sets the CSV field separator (',' by default).
func Comma(r rune) Option { return func(c *config) { c.comma = r } }

// FieldsPerRecord sets how many fields CSV records have: n > 0 that many,
// 0 (the default) as many as the file's first record, -1 any number. A
// record with another number is a bad record.
func FieldsPerRecord(n int) Option { return func(c *config) { c.fields = n } }

// Source reads the files of a Location, as lines decoded into T or as CSV
// records. It implements sluice.Source[Plan, T]: use it with
// sluice.FromSource. See the package documentation.
type Source[T any] struct {
	loc Location
	cfg config
	// Exactly one of these decodes.
	line func([]byte) (T, error)
	csv  func(header, record []string) (T, error)
}

var _ sluice.Source[Plan, string] = (*Source[string])(nil)

func newSource[T any](loc Location, opts []Option) *Source[T] {
	s := &Source[T]{loc: loc, cfg: config{
		planConfig: planConfig{maxFiles: DefaultMaxFilesPerBatch, maxBytes: DefaultMaxBytesPerBatch,
			lookback: DefaultLookback, maxSeen: DefaultMaxSeen},
		maxLine: DefaultMaxLineLength, maxListed: DefaultMaxListed, comma: ','}}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.err == nil {
		s.cfg.err = loc.check()
	}
	return s
}

// Lines reads every line of the files as a record, decoded by decode
// (which must copy what it keeps: line is reused after the call). A line
// that is not valid UTF-8, is longer than MaxLineLength or that decode
// refuses is a bad record.
func Lines[T any](loc Location, decode func(line []byte) (T, error), opts ...Option) *Source[T] {
	s := newSource[T](loc, opts)
	s.line = decode
	if decode == nil {
		invalid(&s.cfg, "Lines: nil decode")
	}
	return s
}

// Text reads every line of the files as a string.
func Text(loc Location, opts ...Option) *Source[string] {
	return Lines(loc, func(l []byte) (string, error) { return string(l), nil }, opts...)
}

// JSONLines reads files of JSON values, one per line, decoded into T by
// encoding/json. An empty line is a bad record, as any line that is not
// one JSON value of T's shape.
func JSONLines[T any](loc Location, opts ...Option) *Source[T] {
	return Lines(loc, func(l []byte) (T, error) {
		var v T
		err := json.Unmarshal(l, &v) // refuses what follows the value too
		return v, err
	}, opts...)
}

// CSV reads CSV files (RFC 4180, by encoding/csv) as records of fields.
func CSV(loc Location, opts ...Option) *Source[[]string] {
	return CSVFunc(loc, func(_, r []string) ([]string, error) { return r, nil }, opts...)
}

// CSVFunc reads CSV files, each record decoded by decode, which is given
// the file's header too (with the Header option; nil otherwise). A
// record that cannot be parsed, is not valid UTF-8 or that decode refuses
// is a bad record, as is a bad header.
func CSVFunc[T any](loc Location, decode func(header, record []string) (T, error), opts ...Option) *Source[T] {
	s := newSource[T](loc, opts)
	s.csv = decode
	s.cfg.splitSize = 0
	if decode == nil {
		invalid(&s.cfg, "CSVFunc: nil decode")
	}
	return s
}

// Plan lists the location and plans the files that appeared since the
// previous plan (see Plan). req.Limit is not followed: a file source does
// not know how many records a file holds without reading it, so it does
// not implement sluice.SourceCounter, and backpressure and MaxRate cannot
// hold it back; MaxFilesPerBatch and MaxBytesPerBatch bound a batch.
func (s *Source[T]) Plan(ctx context.Context, req sluice.PlanRequest[Plan]) (Plan, error) {
	if s.cfg.err != nil {
		return Plan{}, s.cfg.err
	}
	listing, err := s.loc.list(ctx, s.cfg.maxListed)
	if err != nil {
		return Plan{}, err
	}
	return plan(req.Prev, req.HasPrev, listing, s.cfg.planConfig), nil
}

// Parts returns the number of parts of p: one per file, or more with
// SplitSize.
func (s *Source[T]) Parts(p Plan) int { return len(p.Parts) }

// Read reads part part of p. Bad records have the position "path:line".
// A file that vanished or changed since it was planned fails the read
// (ErrVanished).
func (s *Source[T]) Read(ctx context.Context, p Plan, part int) ([]T, []sluice.BadRecord, error) {
	if s.cfg.err != nil {
		return nil, nil, s.cfg.err
	}
	if part < 0 || part >= len(p.Parts) {
		return nil, nil, fmt.Errorf("file: part %d of a plan of %d", part, len(p.Parts))
	}
	pt := p.Parts[part]
	if pt.File < 0 || pt.File >= len(p.Files) || pt.Start < 0 || pt.Start > pt.End || pt.End > p.Files[pt.File].Size {
		return nil, nil, fmt.Errorf("file: part %d: %+v does not fit the plan", part, pt)
	}
	f := p.Files[pt.File]
	var recs []T
	var bad []sluice.BadRecord
	var err error
	if s.csv != nil {
		recs, bad, err = s.readCSV(ctx, f)
	} else {
		recs, bad, err = s.readLines(ctx, f, pt)
	}
	if err != nil {
		return nil, nil, err
	}
	return recs, bad, nil
}

func (s *Source[T]) readLines(ctx context.Context, f File, pt Part) (recs []T, bad []sluice.BadRecord, err error) {
	path := s.loc.path(f.Name)
	from := max(pt.Start-1, 0)
	r, err := s.loc.open(ctx, f, from)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	lr, err := newLineReader(r, pt.Start, pt.End, s.cfg.maxLine)
	if err != nil {
		return nil, nil, fmt.Errorf("file: %s: %w", path, err)
	}
	first := 0 // the number of the part's first line; 0 until needed after byte 0
	if pt.Start == 0 {
		first = 1
	}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("file: %s: %w", path, err)
			}
		}
		line, at, tooLong, err := lr.next()
		if err == io.EOF {
			return recs, bad, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("file: %s: byte %d: %w", path, at, err)
		}
		why := checkLine(line, tooLong, s.cfg.maxLine)
		if why == nil {
			var v T
			if v, why = s.line(line); why == nil {
				recs = append(recs, v)
				continue
			}
		}
		if first == 0 {
			k, err := s.countLines(ctx, f, at)
			if err != nil {
				return nil, nil, err
			}
			first = k + 1 - n
		}
		bad = append(bad, sluice.BadRecord{Position: fmt.Sprintf("%s:%d", path, first+n),
			Value: bytes.Clone(line), Error: why.Error()})
	}
}

// countLines counts the newlines in the first n bytes of f.
func (s *Source[T]) countLines(ctx context.Context, f File, n int64) (int, error) {
	r, err := s.loc.open(ctx, f, 0)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	lines := 0
	for left := n; left > 0; {
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), left)])
		lines += bytes.Count(buf[:k], []byte{'\n'})
		left -= int64(k)
		if err != nil {
			return 0, fmt.Errorf("file: %s: counting lines: %w", s.loc.path(f.Name), eofIsUnexpected(err))
		}
	}
	return lines, nil
}

func (s *Source[T]) readCSV(ctx context.Context, f File) (recs []T, bad []sluice.BadRecord, err error) {
	path := s.loc.path(f.Name)
	r, err := s.loc.open(ctx, f, 0)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	cr := newCSVReader(r, s.cfg.comma, s.cfg.fields, s.cfg.maxLine)
	var header []string
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("file: %s: %w", path, err)
			}
		}
		rec, err := cr.next()
		if err == io.EOF {
			return recs, bad, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("file: %s: after line %d: %w", path, cr.line(), err)
		}
		why := rec.err
		if why == nil && n == 0 && s.cfg.header {
			header = rec.fields
			continue
		}
		if why == nil {
			var v T
			if v, why = s.csv(header, rec.fields); why == nil {
				recs = append(recs, v)
				continue
			}
		}
		if n == 0 && s.cfg.header {
			why = fmt.Errorf("bad header: %w", why)
		}
		bad = append(bad, sluice.BadRecord{Position: fmt.Sprintf("%s:%d", path, rec.line), Value: rec.raw, Error: why.Error()})
	}
}
