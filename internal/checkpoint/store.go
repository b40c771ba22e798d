package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store is where checkpoints live. Keys are slash-separated relative paths
// (see ValidKey). A Store is safe for concurrent use by several goroutines,
// and the implementations here also by several processes sharing the same
// directory or bucket.
type Store interface {
	// Put writes data under key atomically: a reader sees the whole object
	// or nothing (never a half-written one), even if the writer is killed
	// mid-write; an existing key is replaced whole. Of concurrent Puts of
	// one key, one wins whole. Put does not keep data after it returns.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object; an error wrapping ErrNotFound when absent.
	// The caller owns the returned slice.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix, sorted by byte order. The prefix
	// is a plain string prefix: "state/op/" lists that "directory",
	// "state/op" also lists "state/op2/…". The empty prefix lists all keys.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes keys; absent keys are not an error. It is not atomic
	// across keys: on an error, some keys may be deleted.
	Delete(ctx context.Context, keys ...string) error
	// String describes the store for messages ("dir /x", "s3://bucket/prefix").
	String() string
	// Close releases what the store holds (an S3 store's idle
	// connections). It does not delete anything.
	Close() error
}

// Limits (STYLE 7). They hold for every implementation, so that what works
// against Mem in a test works against Dir and S3.
const (
	// MaxKeyLen is the longest key, in bytes. S3 limits an object's name
	// to 1024 bytes, store prefix included: keys get 768 of them and
	// S3Config.Prefix the rest (MaxS3PrefixLen), so that a key valid in
	// one store is valid in every store.
	MaxKeyLen = 768
	// MaxS3PrefixLen is the longest S3Config.Prefix, in bytes, with the
	// slash that ends it.
	MaxS3PrefixLen = 1024 - MaxKeyLen
	// MaxSegmentLen is the longest slash-separated part of a key: Dir
	// stores a part as a file name, which the file system limits to 255
	// bytes, and adds a suffix to name temporary files.
	MaxSegmentLen = 200
	// MaxObjectSize is the largest object, in bytes. One S3 PutObject
	// takes up to 5 GiB, so objects within this limit need no multipart
	// upload; Put and Get hold the whole object in memory anyway.
	MaxObjectSize = 2 << 30
	// MaxListKeys is the most keys one List returns; beyond it List fails
	// with ErrTooManyKeys instead of growing without bound.
	MaxListKeys = 1 << 20
)

var (
	// ErrNotFound is returned (wrapped) by Get for an absent key.
	ErrNotFound = errors.New("checkpoint: not found")
	// ErrInvalidKey is returned (wrapped) for a key or prefix that breaks
	// the rules of ValidKey; nothing was read or written.
	ErrInvalidKey = errors.New("checkpoint: invalid key")
	// ErrTooLarge is returned (wrapped) by Put for data over MaxObjectSize,
	// and by Get for a stored object over it; nothing was written.
	ErrTooLarge = errors.New("checkpoint: object too large")
	// ErrConflict is returned (wrapped) by Put when the key is a "directory"
	// of another key ("a" when "a/b" exists) or goes through an object ("a/b"
	// when "a" exists). Dir and Mem refuse such keys, since a file system
	// cannot hold both; S3 accepts them, so portable callers avoid them.
	// Nothing was written.
	ErrConflict = errors.New("checkpoint: key conflicts with another key")
	// ErrTooManyKeys is returned (wrapped) by List when more than
	// MaxListKeys keys match; list a narrower prefix.
	ErrTooManyKeys = errors.New("checkpoint: too many keys")
)

// ValidKey reports whether key is a valid key, and if not, why: an error
// wrapping ErrInvalidKey. A key is 1 to MaxKeyLen bytes of [A-Za-z0-9._/-],
// made of non-empty parts separated by single slashes (no leading, trailing
// or double slash), none of them "." or ".." nor longer than MaxSegmentLen.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if key[len(key)-1] == '/' {
		return fmt.Errorf("%w %.100q: ends with a slash", ErrInvalidKey, key)
	}
	if err := validPrefix(key); err != nil {
		return err
	}
	if last := key[strings.LastIndexByte(key, '/')+1:]; last == "." || last == ".." {
		return fmt.Errorf("%w %.100q: has a %q part", ErrInvalidKey, key, last)
	}
	return nil
}

// validPrefix checks a List prefix: like a key, but it may be empty or end
// with a slash, and its last part may be "." or ".." since it may stop in
// the middle of a name ("state/." matches "state/.x").
func validPrefix(p string) error {
	if len(p) > MaxKeyLen {
		return fmt.Errorf("%w %.100q…: %d bytes, more than %d", ErrInvalidKey, p, len(p), MaxKeyLen)
	}
	for i := 0; i < len(p); i++ {
		if !keyByte(p[i]) {
			return fmt.Errorf("%w %.100q: byte %q at %d is not one of [A-Za-z0-9._/-]", ErrInvalidKey, p, p[i], i)
		}
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		complete := i < len(parts)-1
		switch {
		case complete && part == "":
			return fmt.Errorf("%w %.100q: leading or double slash", ErrInvalidKey, p)
		case complete && (part == "." || part == ".."):
			return fmt.Errorf("%w %.100q: has a %q part", ErrInvalidKey, p, part)
		case len(part) > MaxSegmentLen:
			return fmt.Errorf("%w %.100q: a part of %d bytes, more than %d", ErrInvalidKey, p, len(part), MaxSegmentLen)
		}
	}
	return nil
}

// keyByte reports whether c may appear in a key.
func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/'
}

// validKeys checks every key of a Delete before anything is deleted.
func validKeys(keys []string) error {
	for _, k := range keys {
		if err := ValidKey(k); err != nil {
			return err
		}
	}
	return nil
}

// checkSize refuses data over MaxObjectSize.
func checkSize(n int64) error {
	if n > MaxObjectSize {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, n, int64(MaxObjectSize))
	}
	return nil
}

// opError wraps err with what was being done, where: `checkpoint: put
// "state/x" in dir /y: …`. err is one of the package's sentinels, a context
// error or an error from the file system or the S3 client, kept for
// errors.Is.
func opError(op, key string, s Store, err error) error {
	return fmt.Errorf("checkpoint: %s %q in %s: %w", op, key, s, err)
}

// deleteError is opError for a Delete of keys.
func deleteError(keys []string, s Store, err error) error {
	if len(keys) == 1 {
		return opError("delete", keys[0], s, err)
	}
	return fmt.Errorf("checkpoint: delete %d keys in %s: %w", len(keys), s, err)
}
