package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Open opens the store at location:
//
//   - "/abs/dir", "relative/dir" or "file:///abs/dir": a Dir, made if
//     needed, after removing the temporary files older than StaleTempAge
//     that killed writers left (Clean);
//   - "s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path-style=true":
//     an S3 store (every parameter optional), with the credentials of the
//     environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN (optional); the region defaults to AWS_REGION, then
//     AWS_DEFAULT_REGION, then us-east-1. Open checks that the bucket exists.
//
// Anything else is an error. The caller closes the store.
func Open(ctx context.Context, location string) (Store, error) {
	if location == "" {
		return nil, errors.New("checkpoint: empty location")
	}
	if !strings.Contains(location, "://") {
		return openDir(ctx, location)
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: location %q: %w", location, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Path == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("checkpoint: location %q: want file:///absolute/dir", location)
		}
		return openDir(ctx, u.Path)
	case "s3":
		cfg, err := s3Config(u)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: location %q: %w", location, err)
		}
		return NewS3(ctx, cfg)
	default:
		return nil, fmt.Errorf("checkpoint: location %q: unsupported scheme %q (want a directory, file:///dir or s3://bucket/prefix)", location, u.Scheme)
	}
}

func openDir(ctx context.Context, dir string) (Store, error) {
	d, err := NewDir(dir)
	if err != nil {
		return nil, err
	}
	if _, err := d.Clean(ctx, StaleTempAge); err != nil {
		return nil, err
	}
	return d, nil
}

// s3Config reads an s3:// URL and the environment.
func s3Config(u *url.URL) (S3Config, error) {
	cfg := S3Config{
		Bucket:       u.Host,
		Prefix:       u.Path,
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
		Region:       firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"),
	}
	if u.User != nil {
		return cfg, errors.New("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if cfg.Bucket == "" {
		return cfg, errors.New("no bucket (want s3://bucket/prefix)")
	}
	for name, vals := range u.Query() {
		if len(vals) != 1 {
			return cfg, fmt.Errorf("parameter %q given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path-style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("path-style=%q: want true or false", v)
			}
			cfg.PathStyle = b
		default:
			return cfg, fmt.Errorf("unknown parameter %q (want endpoint, region or path-style)", name)
		}
	}
	return cfg, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
