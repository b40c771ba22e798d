package file_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/source/file"
)

// fakeS3 starts an in-process S3 server holding bucket "in" and returns
// a client of it.
func fakeS3(t *testing.T) *s3.Client {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("in"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		HTTPClient:   srv.Client(),
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
	})
}

func putObject(t *testing.T, c *s3.Client, key, body string) {
	t.Helper()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("in"), Key: aws.String(key),
		Body: bytes.NewReader([]byte(body)), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatal(err)
	}
}

// readPlan reads every part of a plan.
func readPlan[T any](t *testing.T, src *file.Source[T], p file.Plan) ([]T, []sluice.BadRecord) {
	t.Helper()
	var recs []T
	var bad []sluice.BadRecord
	for part := range src.Parts(p) {
		r, b, err := src.Read(ctx, p, part)
		if err != nil {
			t.Fatal(err)
		}
		recs, bad = append(recs, r...), append(bad, b...)
	}
	return recs, bad
}

func TestS3(t *testing.T) {
	c := fakeS3(t)
	putObject(t, c, "logs/a.txt", numbered("a", 0, 50))
	putObject(t, c, "logs/_SUCCESS", "")
	putObject(t, c, "logs/sub/b.txt", "nested\n")
	putObject(t, c, "other/c.txt", "elsewhere\n")
	src := file.Text(file.S3(c, "in", "logs"), file.SplitSize(64))
	p, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Batch: time.Unix(1, 0), Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 1 || p.Files[0].Name != "a.txt" || p.Files[0].ETag == "" || src.Parts(p) != 4 {
		t.Fatalf("plan %+v: want a.txt alone, with its ETag, in parts", p)
	}
	recs, bad := readPlan(t, src, p)
	if !slices.Equal(recs, strings.Fields(numbered("a", 0, 50))) || len(bad) != 0 {
		t.Fatalf("read %q, %v", recs, bad)
	}

	// A new object, and a.txt rewritten: both are read (the ETag tells).
	putObject(t, c, "logs/d.txt", "d-0\n\xff\n")
	putObject(t, c, "logs/a.txt", "a-new\n")
	p2, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Batch: time.Unix(2, 0), Prev: p, HasPrev: true, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	recs, bad = readPlan(t, src, p2)
	slices.Sort(recs)
	if !slices.Equal(recs, []string{"a-new", "d-0"}) || len(bad) != 1 || bad[0].Position != "s3://in/logs/d.txt:2" {
		t.Fatalf("second batch read %q, bad %+v", recs, bad)
	}
	p3, err := src.Plan(ctx, sluice.PlanRequest[file.Plan]{Batch: time.Unix(3, 0), Prev: p2, HasPrev: true, Limit: -1})
	if err != nil || len(p3.Files) != 0 {
		t.Fatalf("third plan %+v, %v: want nothing new", p3.Files, err)
	}

	// The old version of a.txt is gone (rewritten), d.txt deleted: the
	// first and second plans cannot be read again.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("in"), Key: aws.String("logs/d.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Read(ctx, p, 0); !errors.Is(err, file.ErrVanished) {
		t.Errorf("Read of a rewritten object = %v, want ErrVanished", err)
	}
	for part := range src.Parts(p2) {
		_, _, err := src.Read(ctx, p2, part)
		f := p2.Files[p2.Parts[part].File]
		if f.Name == "d.txt" && (!errors.Is(err, file.ErrVanished) || !strings.Contains(err.Error(), "gone")) {
			t.Errorf("Read of a deleted object = %v, want ErrVanished", err)
		}
	}
}
