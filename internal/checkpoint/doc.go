// Package checkpoint is the checkpoint store: where the engine keeps what
// it needs to recover (DESIGN.md section 4). State datasets are written
// every few batches, one object per state partition
// ("state/<operator>/<batch-ms>/part-00003", up to hundreds of MiB); the
// driver writes a small metadata checkpoint every batch
// ("metadata/<batch-ms>") and then a pointer to it. Workers and the driver
// write at once, from several processes.
//
// Store is the interface; Open picks an implementation from a location:
//
//	store, err := checkpoint.Open(ctx, "/var/lib/sluice/ckpt") // or "s3://bucket/job1?endpoint=…"
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	if err := store.Put(ctx, "metadata/1700000000000", meta); err != nil {
//		return err // nothing, or the previous object, is under the key
//	}
//	data, err := store.Get(ctx, "metadata/1700000000000")
//	if errors.Is(err, checkpoint.ErrNotFound) { … }
//
// # Keys and limits
//
// A key is a relative slash-separated path of [A-Za-z0-9._/-] (ValidKey):
// at most MaxKeyLen (768) bytes, parts of at most MaxSegmentLen (200)
// bytes, no empty, "." or ".." part. Keys are 768 bytes rather than S3's
// 1024 so that an S3 store's prefix (up to 255 bytes) fits beside any key:
// a key valid in one store is valid in all. An object is at most
// MaxObjectSize (2 GiB), and one List returns at most MaxListKeys keys.
// Beyond a limit an operation fails with ErrInvalidKey, ErrTooLarge or
// ErrTooManyKeys, before doing anything.
//
// A file system cannot hold both "a" and "a/b"; Dir and Mem refuse the
// second of them with ErrConflict, S3 accepts it. The engine's keys never
// nest so.
//
// # Atomicity and concurrency
//
// Put replaces an object whole: a reader sees the old object or the new
// one, never a mix or a part, even if the writer dies mid-write. Of
// concurrent Puts of a key, from goroutines or processes, one wins whole
// (the last to finish, for Dir the last rename). Put holds the object in
// memory ([]byte in, []byte out): checkpoints are encoded in memory anyway,
// and this keeps retries (S3) and atomic replacement simple.
//
// # Dir
//
// Dir keeps the object under "a/b/c" in the file <dir>/a/b/c, so that an
// operator can look at a checkpoint with ls. Put writes a temporary file
// beside it (<dir>/a/b/c#<16 hex digits>.tmp, made with O_EXCL), syncs it,
// renames it over the key's file and syncs the directory (and, if it had
// to make directories, every directory up to the root), so that a Put that
// returned survives a crash of the machine. No key contains '#', so a
// temporary file is never listed nor read. On any failure — a full disk
// (ENOSPC), a read-only or vanished directory, a canceled context — Put
// removes its temporary file and returns an error naming the key and the
// store, wrapping the system's error (errors.Is(err, syscall.ENOSPC)); the
// previous object, if any, is untouched.
//
// A writer killed mid-write leaves its temporary file. Open removes those
// older than StaleTempAge (15 minutes; a live writer's file is younger,
// since it is written to until it is renamed); Clean does it on demand.
// Delete removes the directories it leaves empty; it does not sync (a
// crash may bring back a deleted object, never lose a kept one). Files
// that cannot be keys (lost+found, an editor's backup~) are ignored.
//
// Over a network file system, Dir is as atomic as the server's rename
// (NFS's is) and as fresh as the clients' caches (an NFS client may read
// the previous whole object for a few seconds after another client's Put).
//
// # S3
//
// S3 keeps the object under key k in the S3 object <prefix>/k of a bucket,
// on AWS or an S3-compatible server (MinIO, Ceph; S3Config.Endpoint and
// PathStyle). Put is one PutObject, which S3 makes visible whole or not at
// all; a PutObject takes up to 5 GiB, so objects up to MaxObjectSize need
// no multipart upload, and none is used (nor the SDK's upload manager:
// feature/s3/manager is deprecated, its successor transfermanager is not
// yet 1.0, and parts would add state to clean after a crash). Get is one
// GetObject, List pages through ListObjectsV2, Delete sends DeleteObjects
// of up to 1000 keys. The SDK signs requests (SigV4), adds a CRC32
// checksum to uploads (and checks a download's when the server sends one),
// and retries throttling, 5xx and connection errors with backoff (S3Config.MaxAttempts, 3 by default); the caller's context
// bounds each call. NewS3 (and Open) check with HeadBucket that the bucket
// exists and the credentials are accepted, so a typo fails at start-up
// with a clear error, not at the first checkpoint. Credentials come from
// S3Config, which Open fills from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN.
//
// The client library is github.com/aws/aws-sdk-go-v2/service/s3 (DESIGN.md
// section 9 allows it or minio-go): it is AWS's own SDK, released often,
// and talks to S3-compatible servers through a base endpoint and path-style
// addressing. gofakes3, the in-process S3 server the tests use, is itself
// built on aws-sdk-go-v2, so the tests need that module anyway; minio-go
// would add a second dependency tree (klauspost/compress, md5-simd, xid,
// ini…) for a feature we do not need (automatic multipart uploads). The
// SDK's config module (LoadDefaultConfig: profiles, SSO, instance roles) is
// not used, to keep its STS, SSO and IMDS clients out; credentials are
// explicit.
//
// # Mem and Faulty
//
// Mem is a Store in memory for tests elsewhere; it follows Dir's rules
// (ErrConflict included). Faulty wraps a Store and fails chosen calls —
// the Nth Put, the Puts of keys under a prefix — before the call, after it
// (an ambiguous outcome), or as a crash mid-write that leaves a torn
// temporary file in a Dir (Fault, FaultMode), like pebble's errorfs for a
// file system.
//
// # Goroutines
//
// The package starts none. An S3 store's HTTP client keeps idle
// connections, each with the transport's goroutines; Close closes them
// (when the store made the client; a client passed in S3Config.HTTPClient
// is the caller's to close).
package checkpoint
