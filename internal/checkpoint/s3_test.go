package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const (
	testBucket    = "ckpt"
	testAccessKey = "AKIDSLUICETEST"
	testSecretKey = "secret-of-the-test"
)

// fakeS3Options configure a test store.
type fakeS3Options struct {
	prefix    string
	listPage  int32
	accessKey string // testAccessKey if empty
	secretKey string // testSecretKey if empty
}

// fakeS3 is an in-process S3 server: gofakes3 with its memory backend,
// behind a check of the requests' signatures (gofakes3 checks none).
type fakeS3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend
}

// newFakeS3 starts a server holding the bucket testBucket; t.Cleanup stops it.
func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(backend)
	f := &fakeS3{backend: backend}
	f.srv = httptest.NewServer(checkSignature(faker.Server(), map[string]string{testAccessKey: testSecretKey}))
	t.Cleanup(f.srv.Close)
	return f
}

// store returns a store on the server; t.Cleanup closes it.
func (f *fakeS3) store(t *testing.T, o fakeS3Options) (*S3, error) {
	t.Helper()
	s, err := NewS3(testContext(t), S3Config{
		Endpoint:   f.srv.URL,
		Bucket:     testBucket,
		Prefix:     o.prefix,
		AccessKey:  cmpOr(o.accessKey, testAccessKey),
		SecretKey:  cmpOr(o.secretKey, testSecretKey),
		PathStyle:  true,
		HTTPClient: f.srv.Client(),
	})
	if err != nil {
		return nil, err
	}
	s.listPage = o.listPage
	t.Cleanup(func() { s.Close() })
	return s, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newTestS3 returns a store on a new fake server.
func newTestS3(t *testing.T, o fakeS3Options) *S3 {
	t.Helper()
	if o.prefix == "" {
		o.prefix = "jobs/test"
	}
	s, err := newFakeS3(t).store(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSignature refuses, as S3 does, a request whose AWS Signature
// Version 4 is not that of a known access key: it signs the request again
// with the key's secret (aws-sdk-go-v2's signer, over the headers the
// client signed) and compares.
func checkSignature(next http.Handler, secrets map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, msg := verifySignature(r, secrets)
		if code != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func verifySignature(r *http.Request, secrets map[string]string) (code, msg string) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !ok {
		return "AccessDenied", "not signed with AWS4-HMAC-SHA256"
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 {
		return "AuthorizationHeaderMalformed", "bad credential"
	}
	secret, ok := secrets[scope[0]]
	if !ok {
		return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "AccessDenied", "bad X-Amz-Date"
	}
	again := r.Clone(r.Context())
	again.Header = http.Header{}
	again.ContentLength = 0
	for h := range strings.SplitSeq(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret}
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(
		r.Context(), creds, again, r.Header.Get("X-Amz-Content-Sha256"), scope[3], scope[2], signedAt)
	if err != nil || again.Header.Get("Authorization") != r.Header.Get("Authorization") {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func TestS3WrongCredentials(t *testing.T) {
	f := newFakeS3(t)
	for _, o := range []fakeS3Options{
		{accessKey: "AKIDUNKNOWN"},
		{secretKey: "not-the-secret"},
	} {
		_, err := f.store(t, o)
		if err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), "credentials") {
			t.Fatalf("NewS3 with %+v = %v; want access denied", o, err)
		}
		t.Log(err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	f := newFakeS3(t)
	_, err := NewS3(testContext(t), S3Config{
		Endpoint: f.srv.URL, Bucket: "no-such-bucket", AccessKey: testAccessKey, SecretKey: testSecretKey,
		PathStyle: true, HTTPClient: f.srv.Client(),
	})
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("NewS3 = %v; want the bucket reported missing", err)
	}
	t.Log(err)
}

// TestS3BucketGone checks that operations on a bucket removed after
// NewS3 fail with the server's reason.
func TestS3BucketGone(t *testing.T) {
	f := newFakeS3(t)
	s, err := f.store(t, fakeS3Options{prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.backend.DeleteBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	err = s.Put(testContext(t), "k", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") || !strings.Contains(err.Error(), `put "k" in s3://ckpt/p`) {
		t.Fatalf("Put = %v; want NoSuchBucket", err)
	}
	if _, err := s.Get(testContext(t), "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v; want an error other than ErrNotFound", err)
	}
}

// TestS3Prefixes checks that stores under prefixes of one bucket do not see
// each other's objects, even when a prefix is a prefix of the other's, and
// skip objects whose names are not keys.
func TestS3Prefixes(t *testing.T) {
	f := newFakeS3(t)
	stores := map[string]*S3{}
	for _, p := range []string{"run", "/run2/", "run/sub"} {
		s, err := f.store(t, fakeS3Options{prefix: p, listPage: 2})
		if err != nil {
			t.Fatal(err)
		}
		stores[p] = s
		mustPut(t, s, "k1", []byte(p))
		mustPut(t, s, "k2", []byte(p))
	}
	if got := stores["/run2/"].String(); got != "s3://ckpt/run2" {
		t.Errorf("String() = %q", got)
	}
	if _, err := f.backend.PutObject(testBucket, "run/bad key#", nil, strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	mustList(t, stores["run"], "", []string{"k1", "k2", "sub/k1", "sub/k2"})
	mustList(t, stores["/run2/"], "", []string{"k1", "k2"})
	mustList(t, stores["run/sub"], "", []string{"k1", "k2"})
	mustGet(t, stores["run/sub"], "k1", []byte("run/sub"))
	mustGet(t, stores["run"], "sub/k1", []byte("run/sub"))
}

// TestS3LongestNames puts the longest key under the longest prefix: S3's
// limit on names (1024 bytes, which gofakes3 enforces) is not exceeded.
func TestS3LongestNames(t *testing.T) {
	prefix := strings.Repeat("p/", MaxS3PrefixLen/2)[:MaxS3PrefixLen-1]
	key := strings.Repeat(strings.Repeat("k", MaxSegmentLen)+"/", 3)
	key += strings.Repeat("z", MaxKeyLen-len(key))
	s := newTestS3(t, fakeS3Options{prefix: prefix})
	mustPut(t, s, key, []byte("x"))
	mustList(t, s, "", []string{key})
	mustGet(t, s, key, []byte("x"))
}

// TestS3Pagination lists more keys than a page holds, and deletes more
// than one DeleteObjects request takes.
func TestS3Pagination(t *testing.T) {
	f := newFakeS3(t)
	s, err := f.store(t, fakeS3Options{prefix: "p", listPage: 7})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range deleteBatch + 20 {
		keys = append(keys, fmt.Sprintf("many/%05d", i))
	}
	// Put through the backend: a thousand PutObjects through HTTP would
	// test nothing more.
	for _, k := range keys[:30] {
		mustPut(t, s, k, []byte(k))
	}
	for _, k := range keys[30:] {
		if _, err := f.backend.PutObject(testBucket, "p/"+k, nil, strings.NewReader(k), int64(len(k)), nil); err != nil {
			t.Fatal(err)
		}
	}
	mustList(t, s, "many/000", keys[:100])
	s.listPage = 0
	mustList(t, s, "many/", keys)
	if err := s.Delete(testContext(t), keys...); err != nil {
		t.Fatal(err)
	}
	mustList(t, s, "", nil)
}

// TestS3WrongCredentialsPut checks the errors of calls signed with wrong
// credentials (a store made without NewS3's check).
func TestS3WrongCredentialsPut(t *testing.T) {
	f := newFakeS3(t)
	for _, tc := range []struct{ access, secret, want string }{
		{"AKIDUNKNOWN", testSecretKey, "InvalidAccessKeyId"},
		{testAccessKey, "not-the-secret", "SignatureDoesNotMatch"},
	} {
		s, err := newS3(S3Config{
			Endpoint: f.srv.URL, Bucket: testBucket, AccessKey: tc.access, SecretKey: tc.secret,
			PathStyle: true, HTTPClient: f.srv.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Put(testContext(t), "k", []byte("x"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Put = %v; want %s", err, tc.want)
		}
		t.Log(err)
	}
}

// TestS3Deadline checks that a call to a server that does not answer ends
// with its context.
func TestS3Deadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := newS3(S3Config{
		Endpoint: srv.URL, Bucket: testBucket, AccessKey: testAccessKey, SecretKey: testSecretKey,
		PathStyle: true, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Put(ctx, "k", []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put = %v; want DeadlineExceeded", err)
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestNewS3Errors(t *testing.T) {
	for _, tc := range []struct {
		cfg  S3Config
		want string
	}{
		{S3Config{AccessKey: "a", SecretKey: "s"}, "no bucket"},
		{S3Config{Bucket: "b", SecretKey: "s"}, "no credentials"},
		{S3Config{Bucket: "b", AccessKey: "a", SecretKey: "s", MaxAttempts: -1}, "MaxAttempts"},
		{S3Config{Bucket: "b", AccessKey: "a", SecretKey: "s", Endpoint: "127.0.0.1:9000"}, "not an http:// or https:// URL"},
		{S3Config{Bucket: "b", AccessKey: "a", SecretKey: "s", Prefix: "a b"}, "invalid key"},
	} {
		if _, err := NewS3(t.Context(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewS3(%+v) = %v; want an error with %q", tc.cfg, err, tc.want)
		}
	}
}
