package checkpoint

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config says where an S3 store is and how to reach it.
type S3Config struct {
	// Endpoint is the service's base URL ("http://127.0.0.1:9000" for a
	// MinIO); empty for AWS itself.
	Endpoint string
	// Region signs the requests; "us-east-1" if empty.
	Region string
	// Bucket must exist: NewS3 checks it.
	Bucket string
	// Prefix is put before every key ("ckpt/job1" stores key "metadata/5"
	// as "ckpt/job1/metadata/5"). It follows the rules of keys; leading
	// and trailing slashes are dropped.
	Prefix string
	// AccessKey, SecretKey and SessionToken (optional) are the credentials.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name (http://bucket.host/key); most S3-compatible
	// servers want it.
	PathStyle bool
	// HTTPClient makes the requests; nil for a client of the store's own,
	// whose idle connections Close closes. The caller owns a client it
	// passes.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of each request (the SDK retries
	// throttling, 5xx and connection errors with backoff); 0 for the SDK's
	// default, 3.
	MaxAttempts int
}

// S3 is a Store in an S3 bucket (AWS or an S3-compatible server), under a
// prefix. An object is one S3 object, written by one PutObject, which S3
// makes visible whole or not at all.
type S3 struct {
	client *s3.Client
	bucket string
	// prefix is S3Config.Prefix with a trailing slash, or empty.
	prefix string
	// ownHTTP is the HTTP client the store made, closed by Close; nil if
	// the caller passed one.
	ownHTTP *http.Client
	// listPage is the number of keys asked for per ListObjectsV2 page; 0
	// for S3's default (1000). Tests lower it to see pagination at work.
	listPage int32
}

// deleteBatch is the most keys one DeleteObjects request takes (S3's limit).
const deleteBatch = 1000

// NewS3 returns an S3 store after checking that the bucket exists and the
// credentials may see it (a HeadBucket request): a missing bucket or
// refused credentials fail here with a clear error rather than at the
// first checkpoint.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	s, err := newS3(cfg)
	if err != nil {
		return nil, err
	}
	_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		s.Close()
		return nil, s.bucketError(err)
	}
	return s, nil
}

// newS3 checks cfg and builds the client, without a request.
func newS3(cfg S3Config) (*S3, error) {
	prefix := strings.Trim(cfg.Prefix, "/")
	desc := describeS3(cfg.Bucket, prefix)
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("checkpoint: s3: no bucket")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, fmt.Errorf("checkpoint: %s: no credentials (an access key and a secret key; Open takes them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", desc)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("checkpoint: %s: MaxAttempts %d < 0", desc, cfg.MaxAttempts)
	}
	if err := validPrefix(prefix); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: prefix: %w", desc, err)
	}
	if prefix != "" {
		prefix += "/"
	}
	if len(prefix) > MaxS3PrefixLen {
		return nil, fmt.Errorf("checkpoint: %s: prefix of %d bytes, more than %d", desc, len(prefix)-1, MaxS3PrefixLen-1)
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("checkpoint: %s: endpoint %q is not an http:// or https:// URL", desc, cfg.Endpoint)
		}
	}
	s := &S3{bucket: cfg.Bucket, prefix: prefix}
	hc := cfg.HTTPClient
	if hc == nil {
		s.ownHTTP = newHTTPClient()
		hc = s.ownHTTP
	}
	creds := aws.Credentials{
		AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, SessionToken: cfg.SessionToken,
		Source: "checkpoint.S3Config",
	}
	opts := s3.Options{
		Region:           cmp.Or(cfg.Region, "us-east-1"),
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		UsePathStyle:     cfg.PathStyle,
		HTTPClient:       hc,
		RetryMaxAttempts: cfg.MaxAttempts,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	s.client = s3.New(opts)
	return s, nil
}

// newHTTPClient is the store's own HTTP client: Go's default transport
// with a bound on the wait for a response once a request is sent. There is
// no overall timeout, since a large object takes long to send: callers
// bound calls with their context.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 5 * time.Minute
	return &http.Client{Transport: t}
}

// String returns "s3://bucket/prefix", or "s3://bucket".
func (s *S3) String() string {
	return describeS3(s.bucket, s.prefix)
}

func describeS3(bucket, prefix string) string {
	if prefix == "" {
		return "s3://" + bucket
	}
	return "s3://" + bucket + "/" + strings.TrimSuffix(prefix, "/")
}

// Close closes the idle connections of the store's own HTTP client. The
// store stays usable (a later request opens a new connection).
func (s *S3) Close() error {
	if s.ownHTTP != nil {
		s.ownHTTP.CloseIdleConnections()
	}
	return nil
}

// bucketError explains a failed HeadBucket.
func (s *S3) bucketError(err error) error {
	switch code := statusCode(err); {
	case code == http.StatusNotFound || apiCode(err) == "NoSuchBucket":
		return fmt.Errorf("checkpoint: %s: bucket %q does not exist: %w", s, s.bucket, err)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return fmt.Errorf("checkpoint: %s: access to bucket %q denied; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy: %w", s, s.bucket, err)
	case code == http.StatusMovedPermanently:
		return fmt.Errorf("checkpoint: %s: bucket %q is in another region than the one configured: %w", s, s.bucket, err)
	default:
		return fmt.Errorf("checkpoint: %s: cannot reach bucket %q: %w", s, s.bucket, err)
	}
}

// statusCode returns the HTTP status of a failed request, or 0.
func statusCode(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// apiCode returns the S3 error code ("NoSuchKey"), or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Put writes data with one PutObject.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := checkPut(ctx, key, data); err != nil {
		return opError("put", key, s, err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data), // seekable: the SDK can sign, checksum and retry it
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return opError("put", key, s, err)
	}
	return nil
}

// Get reads the object with one GetObject.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkOp(ctx, key); err != nil {
		return nil, opError("get", key, s, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || apiCode(err) == "NoSuchKey" {
			err = fmt.Errorf("%w (%w)", ErrNotFound, err)
		}
		return nil, opError("get", key, s, err)
	}
	defer out.Body.Close()
	data, err := readBody(out.Body, out.ContentLength)
	if err != nil {
		return nil, opError("get", key, s, err)
	}
	return data, nil
}

// readBody reads an object of length bytes (if known), up to
// MaxObjectSize.
func readBody(body io.Reader, length *int64) ([]byte, error) {
	if length == nil {
		data, err := io.ReadAll(io.LimitReader(body, MaxObjectSize+1))
		if err == nil {
			err = checkSize(int64(len(data)))
		}
		return data, err
	}
	if err := checkSize(*length); err != nil {
		return nil, err
	}
	data := make([]byte, *length)
	if n, err := io.ReadFull(body, data); err != nil {
		return nil, fmt.Errorf("read %d of %d bytes: %w", n, len(data), err)
	}
	return data, nil
}

// List pages through ListObjectsV2. Objects under the store's prefix whose
// names are not keys (written by something else) are skipped.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkList(ctx, prefix); err != nil {
		return nil, opError("list", prefix, s, err)
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)}
	if s.listPage > 0 {
		in.MaxKeys = aws.Int32(s.listPage)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in, func(o *s3.ListObjectsV2PaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	var keys []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, opError("list", prefix, s, err)
		}
		for _, o := range page.Contents {
			k, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || ValidKey(k) != nil {
				continue
			}
			if len(keys) == MaxListKeys {
				return nil, opError("list", prefix, s, fmt.Errorf("%w: more than %d", ErrTooManyKeys, MaxListKeys))
			}
			keys = append(keys, k)
		}
	}
	// S3 lists in UTF-8 byte order already; sorting keeps the promise for
	// servers that do not.
	slices.Sort(keys)
	return keys, nil
}

// Delete removes the keys with DeleteObjects, deleteBatch keys a request.
func (s *S3) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return deleteError(keys, s, err)
	}
	if err := validKeys(keys); err != nil {
		return deleteError(keys, s, err)
	}
	for batch := range slices.Chunk(keys, deleteBatch) {
		if err := s.deleteBatch(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

func (s *S3) deleteBatch(ctx context.Context, keys []string) error {
	ids := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		ids[i] = types.ObjectIdentifier{Key: aws.String(s.prefix + k)}
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(s.bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return deleteError(keys, s, err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		key := strings.TrimPrefix(aws.ToString(e.Key), s.prefix)
		return opError("delete", key, s, fmt.Errorf("%s: %s (and %d more errors)",
			aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1))
	}
	return nil
}
