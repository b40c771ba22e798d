package checkpoint

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenDir(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, loc := range []string{"rel/ckpt", filepath.Join(dir, "rel", "ckpt"), "file://" + filepath.Join(dir, "rel", "ckpt")} {
		s, err := Open(ctx, loc)
		if err != nil {
			t.Fatalf("Open(%q): %v", loc, err)
		}
		if want := "dir " + filepath.Join(dir, "rel", "ckpt"); s.String() != want {
			t.Errorf("Open(%q).String() = %q; want %q", loc, s, want)
		}
		mustPut(t, s, "k", []byte(loc))
		mustGet(t, s, "k", []byte(loc))
		s.Close()
	}
}

func TestOpenS3(t *testing.T) {
	f := newFakeS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-3")
	loc := "s3://" + testBucket + "/jobs/x?endpoint=" + url.QueryEscape(f.srv.URL) + "&path-style=true"
	s, err := Open(testContext(t), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.String() != "s3://ckpt/jobs/x" {
		t.Errorf("String() = %q", s)
	}
	mustPut(t, s, "metadata/1", []byte("m"))
	mustGet(t, s, "metadata/1", []byte("m"))
	mustList(t, s, "", []string{"metadata/1"})

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := Open(testContext(t), loc+"&region=us-east-1"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("Open with a wrong secret = %v; want access denied", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := Open(testContext(t), loc); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("Open without credentials = %v; want an error naming the variables", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	for loc, want := range map[string]string{
		"":                                    "empty location",
		"ftp://host/dir":                      `unsupported scheme "ftp"`,
		"gs://bucket/x":                       `unsupported scheme "gs"`,
		"file://host/dir":                     "want file:///absolute/dir",
		"file:///dir?x=1":                     "want file:///absolute/dir",
		"s3://":                               "no bucket",
		"s3:///prefix":                        "no bucket",
		"s3://b/p?bogus=1":                    `unknown parameter "bogus"`,
		"s3://b/p?region=a&region=b":          `"region" given 2 times`,
		"s3://b/p?path-style=maybe":           `path-style="maybe"`,
		"s3://k:s@b/p":                        "credentials do not belong in the URL",
		"s3://b/p?endpoint=ftp://127.0.0.1":   "is not an http:// or https:// URL",
		"s3://b/a//b":                         "invalid key",
		"s3://b/" + strings.Repeat("pp/", 86): "prefix of 257 bytes, more than 255",
	} {
		_, err := Open(testContext(t), loc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v; want an error with %q", loc, err, want)
		}
	}
}
