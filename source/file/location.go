package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrVanished is wrapped by the error of a read whose file is no longer
// there (or no longer the version planned): files must stay, unchanged,
// until the batches that read them are complete. The task fails and is
// retried, and fails again while the file is missing, which stops the job.
var ErrVanished = errors.New("file vanished or changed after it was planned")

// Location is where a Source finds its files: a local (or shared)
// directory, or an S3-compatible bucket and prefix. Only the files
// directly in it are read, not those in subdirectories.
type Location struct {
	dir    string // a local directory, or
	client *s3.Client
	bucket string
	prefix string // "" or ending with "/"
}

// Dir is a local directory. In a cluster it must be on a file system
// every worker and the driver share (the driver lists it, the workers
// read the files).
func Dir(path string) Location { return Location{dir: path} }

// S3 is the objects of an S3-compatible bucket whose keys are prefix
// followed by a name without '/' ("" or "in/" for in/a.jsonl). The client
// is made by the job's build function (s3.New makes no connection):
//
//	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
//		UsePathStyle: true, Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
//	src := file.JSONLines[Event](file.S3(client, "bucket", "in/"))
func S3(client *s3.Client, bucket, prefix string) Location {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Location{client: client, bucket: bucket, prefix: prefix}
}

// String names the location: the directory, or s3://bucket/prefix.
func (l Location) String() string {
	if l.client != nil {
		return "s3://" + l.bucket + "/" + l.prefix
	}
	return l.dir
}

// path names a file of the location, for errors and bad records.
func (l Location) path(name string) string {
	if l.client != nil {
		return "s3://" + l.bucket + "/" + l.prefix + name
	}
	return filepath.Join(l.dir, name)
}

func (l Location) check() error {
	switch {
	case l.client == nil && l.dir == "":
		return errors.New("file: no location (use Dir or S3)")
	case l.client != nil && l.bucket == "":
		return errors.New("file: S3 location without a bucket")
	}
	return nil
}

// ignored reports whether a name is left out: hidden and temporary files
// ('.'), and markers and metadata ('_', as Hadoop and Spark do).
func ignored(name string) bool {
	return name == "" || name[0] == '.' || name[0] == '_'
}

// list lists the files of the location, at most max (more is an error).
func (l Location) list(ctx context.Context, max int) ([]File, error) {
	if l.client != nil {
		return l.listS3(ctx, max)
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("file: list %s: %w", l.dir, err)
	}
	var out []File
	for _, e := range entries {
		if ignored(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("file: list %s: %w", l.dir, err)
		}
		if len(out) == max {
			return nil, fmt.Errorf("file: list %s: more than %d files (see MaxListed)", l.dir, max)
		}
		out = append(out, File{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime().UnixNano()})
	}
	return out, nil
}

func (l Location) listS3(ctx context.Context, max int) ([]File, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(l.prefix), Delimiter: aws.String("/")}
	pages := s3.NewListObjectsV2Paginator(l.client, in, func(o *s3.ListObjectsV2PaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	var out []File
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("file: list %s: %w", l, err)
		}
		for _, o := range page.Contents {
			name, ok := strings.CutPrefix(aws.ToString(o.Key), l.prefix)
			if !ok || ignored(name) || strings.Contains(name, "/") {
				continue
			}
			if len(out) == max {
				return nil, fmt.Errorf("file: list %s: more than %d objects (see MaxListed)", l, max)
			}
			out = append(out, File{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified).UnixNano(), ETag: aws.ToString(o.ETag)})
		}
	}
	return out, nil
}

// open opens bytes [start, f.Size) of the version f of a file, checking
// that it is still that version (ErrVanished otherwise).
func (l Location) open(ctx context.Context, f File, start int64) (io.ReadCloser, error) {
	if l.client != nil {
		return l.openS3(ctx, f, start)
	}
	p := filepath.Join(l.dir, f.Name)
	h, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file: %s: %w: it is gone", p, ErrVanished)
	}
	if err != nil {
		return nil, fmt.Errorf("file: %s: %w", p, err)
	}
	fi, err := h.Stat()
	if err == nil && (fi.Size() != f.Size || fi.ModTime().UnixNano() != f.ModTime) {
		err = fmt.Errorf("%w: planned with %d bytes modified at %d ns, now %d bytes at %d ns (files must not change once they appear: write them elsewhere and rename them in)",
			ErrVanished, f.Size, f.ModTime, fi.Size(), fi.ModTime().UnixNano())
	}
	if err == nil && start > 0 {
		_, err = h.Seek(start, io.SeekStart)
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("file: %s: %w", p, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(h, f.Size-start), h}, nil
}

func (l Location) openS3(ctx context.Context, f File, start int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.prefix + f.Name)}
	if f.ETag != "" {
		in.IfMatch = aws.String(f.ETag)
	}
	if start > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", start, f.Size-1))
	}
	out, err := l.client.GetObject(ctx, in)
	if err != nil {
		var nsk *types.NoSuchKey
		var ae smithy.APIError
		var re interface{ HTTPStatusCode() int }
		switch {
		case errors.As(err, &nsk) || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey"):
			return nil, fmt.Errorf("file: %s: %w: it is gone: %w", l.path(f.Name), ErrVanished, err)
		case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed:
			return nil, fmt.Errorf("file: %s: %w: its ETag is no longer %s: %w", l.path(f.Name), ErrVanished, f.ETag, err)
		}
		return nil, fmt.Errorf("file: %s: %w", l.path(f.Name), err)
	}
	// Servers that ignore If-Match (some S3-compatible ones) still say
	// which version they sent.
	if f.ETag != "" && aws.ToString(out.ETag) != "" && aws.ToString(out.ETag) != f.ETag {
		out.Body.Close()
		return nil, fmt.Errorf("file: %s: %w: its ETag is %s, planned %s", l.path(f.Name), ErrVanished, aws.ToString(out.ETag), f.ETag)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(out.Body, f.Size-start), out.Body}, nil
}
