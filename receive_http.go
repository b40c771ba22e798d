package sluice

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/dataset"
)

// MaxRequestBytes bounds the body of one request to an HTTPText receiver.
const MaxRequestBytes = 16 << 20

// HTTPText makes a stream of the lines of text POSTed to an HTTP server
// that its receiver runs at addr, on the worker the driver gives it (and,
// if that worker dies, on another one: senders retry on the same
// address, which in a cluster of several hosts belongs behind a load
// balancer or a DNS name that follows the receiver).
//
// The body of a POST (to any path) holds one record per line. The answer
// is 200 with {"records": N} once the block holding the request's records
// is stored on two workers (and in the write-ahead log, with
// WriteAheadLog): a sender that gets no 200 has no guarantee and should
// send again, which may duplicate the records of a request whose answer
// was lost. Other answers take nothing from the request:
//   - 400 for a line longer than MaxLineBytes or not valid UTF-8 (the
//     answer names the line), unless the stream has a DeadLetter sink:
//     then the request's good lines are taken, and its bad ones go to
//     the sink with their position (the sender's address, the request's
//     arrival and the line number) and are counted in the answer as
//     {"records": N, "bad": M};
//   - 401 without the bearer token, when AuthToken is set;
//   - 405 for a method other than POST;
//   - 413 for a body over MaxRequestBytes;
//   - 429 Too Many Requests, with Retry-After (whole seconds), when
//     taking the request's records now would put the receiver over its
//     rate limit (backpressure, MaxRate): the receiver does not hold a
//     request it cannot take, the sender comes back later. A request of
//     more records than a batch's limit is taken when the receiver has
//     taken nothing for a batch interval;
//   - 503, with Retry-After, when the block could not be stored or the
//     receiver is stopping.
//
// Options: AuthToken, TLS, DeadLetter, Named (as for HTTPJSON).
func HTTPText(c *Context, addr string, o ...OpOption) *Stream[string] {
	return httpIngest(c, "HTTPText", addr, false, func(line []byte) (string, error) { return string(line), nil }, opts(o))
}

// HTTPJSON makes a stream of the JSON-lines records POSTed to an HTTP
// server at addr, each line decoded into a T by encoding/json (blank lines
// are skipped). It answers as HTTPText does; a line that does not decode
// is a bad line (400, or the DeadLetter sink).
//
// Options: AuthToken, TLS, DeadLetter, Named (the input's name in bad
// records, metrics and the dead-letter output's name, "<name>.dead-letter";
// by default "HTTPJSON(<addr>)").
func HTTPJSON[T any](c *Context, addr string, o ...OpOption) *Stream[T] {
	return httpIngest(c, "HTTPJSON", addr, true, func(line []byte) (T, error) {
		var v T
		err := json.Unmarshal(line, &v)
		return v, err
	}, opts(o))
}

// AuthToken makes an HTTP receiver (HTTPText, HTTPJSON) take only requests
// that carry "Authorization: Bearer <token>" (compared in constant time),
// and answer others 401. Over the open internet, use it with TLS.
func AuthToken(token string) OpOption { return func(o *opConfig) { o.token = token } }

// TLS makes an HTTP receiver serve HTTPS with the certificate and key in
// these PEM files (read when the receiver starts, on its worker).
func TLS(certFile, keyFile string) OpOption {
	return func(o *opConfig) { o.tlsCert, o.tlsKey = certFile, keyFile }
}

// httpItem is one line taken by an HTTP receiver with a dead-letter sink:
// a record, or a bad line.
type httpItem[T any] struct {
	Rec T
	Bad *BadRecord
}

func (it httpItem[T]) isBad() bool { return it.Bad != nil }

// httpIngest makes an HTTP receiver's stream, whose lines decode decodes.
// Blank lines are skipped when skipBlank is set.
func httpIngest[T any](c *Context, kind, addr string, skipBlank bool, decode func([]byte) (T, error), cfg opConfig) *Stream[T] {
	c.check(kind, addr == "", "empty address")
	c.check(kind, cfg.tlsCert == "" != (cfg.tlsKey == ""), "TLS needs a certificate and a key")
	name := kind + "(" + addr + ")"
	if cfg.name != "" {
		name = cfg.name
	}
	if cfg.deadLetter == nil {
		return receiverStream(c, kind, func(ctx context.Context, in *intake[T]) {
			serveIngest(ctx, in, addr, name, cfg, skipBlank, func(r *http.Request, n int, line []byte, err error) (T, error) {
				if err == nil {
					return decode(line)
				}
				var zero T
				return zero, err
			})
		})
	}
	raw := receiverStream(c, kind, func(ctx context.Context, in *intake[httpItem[T]]) {
		serveIngest(ctx, in, addr, name, cfg, skipBlank, func(r *http.Request, n int, line []byte, err error) (httpItem[T], error) {
			if err == nil {
				var v T
				if v, err = decode(line); err == nil {
					return httpItem[T]{Rec: v}, nil
				}
			}
			pos := fmt.Sprintf("%s %s line %d", r.RemoteAddr, r.Header.Get(arrivalHeader), n)
			return httpItem[T]{Bad: &BadRecord{Position: pos, Value: bytes.Clone(line), Error: err.Error()}}, nil
		})
	})
	bad := Transform(raw, func(d Dataset[httpItem[T]], t time.Time) Dataset[BadRecord] {
		return dataset.FlatMap(d, func(it httpItem[T]) []BadRecord {
			if it.Bad == nil {
				return nil
			}
			b := *it.Bad
			b.Input, b.Batch = name, t
			return []BadRecord{b}
		})
	})
	if dl := writeTo(bad, "DeadLetter", cfg.deadLetter, name+".dead-letter"); dl != nil {
		dl.counted = func(_ time.Time, n int64) { c.countBad(name, n) }
	}
	return FlatMap(raw, func(it httpItem[T]) []T {
		if it.Bad != nil {
			return nil
		}
		return []T{it.Rec}
	})
}

// arrivalHeader is set by serveIngest on each request it takes: the time
// it arrived, which names it in bad records' positions.
const arrivalHeader = "X-Sluice-Arrival"

// serveIngest runs an HTTP receiver's server at addr until ctx is done.
func serveIngest[T any](ctx context.Context, in *intake[T], addr, name string, cfg opConfig, skipBlank bool,
	decode func(r *http.Request, n int, line []byte, err error) (T, error)) {
	srv := &http.Server{Handler: ingestHandler(in, cfg.token, skipBlank, decode),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	// The address may still be held by a receiver that just died
	// here: retry until it is free.
	var ln net.Listener
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		var err error
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", addr); err == nil {
			break
		}
		in.report(name, err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
	served := make(chan error, 1)
	go func() { // owned here: ends with Shutdown below
		if cfg.tlsCert != "" {
			served <- srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-served:
		in.report(name, err)
		return
	}
	// Requests in flight wait for their block, which runIntake goes
	// on storing until this returns.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
}

// ingestHandler takes the records of a POST into in and answers once
// they are stored. decode makes a line (n, from 1) a record; err, if not
// nil, says the line is too long or not UTF-8; a record is not taken when
// decode returns an error, which refuses the whole request.
func ingestHandler[T any](in *intake[T], token string, skipBlank bool, decode func(r *http.Request, n int, line []byte, err error) (T, error)) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			http.Error(w, "missing or wrong bearer token; nothing was taken", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST lines of text", http.StatusMethodNotAllowed)
			return
		}
		if r.ContentLength > MaxRequestBytes {
			http.Error(w, fmt.Sprintf("the body is over %d bytes; nothing was taken", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		r.Header.Set(arrivalHeader, time.Now().UTC().Format(time.RFC3339Nano))
		recs, nbad, err := readRequest(r, http.MaxBytesReader(w, r.Body, MaxRequestBytes), skipBlank, decode)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("the body is over %d bytes; nothing was taken", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			http.Error(w, err.Error()+"; nothing was taken", http.StatusBadRequest)
			return
		}
		if ok, wait := in.lim.Take(len(recs)); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(math.Ceil(wait.Seconds()), 1))))
			http.Error(w, fmt.Sprintf("over the input's rate limit of %g records/s; nothing was taken", in.lim.Rate()), http.StatusTooManyRequests)
			return
		}
		if len(recs) > 0 {
			if err := in.addAll(recs).wait(r.Context()); err != nil {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		answer := map[string]int{"records": len(recs) - nbad}
		if nbad > 0 {
			answer["bad"] = nbad
		}
		_ = json.NewEncoder(w).Encode(answer)
	})
}

// readRequest decodes a request's lines: the records (bad ones among them
// when decode keeps them, counted in nbad) or the first error.
func readRequest[T any](r *http.Request, body io.Reader, skipBlank bool, decode func(r *http.Request, n int, line []byte, err error) (T, error)) (recs []T, nbad int, err error) {
	var bad error
	err = scanLines(body, func(n int, line []byte, tooLong bool) {
		if bad != nil {
			return
		}
		lerr := checkLine(n, line, tooLong)
		if lerr == nil && skipBlank && len(bytes.TrimSpace(line)) == 0 {
			return
		}
		v, derr := decode(r, n, line, lerr)
		if derr != nil {
			if lerr == nil {
				derr = fmt.Errorf("line %d: %w", n, derr)
			}
			bad = derr
			return
		}
		if b, ok := any(v).(interface{ isBad() bool }); ok && b.isBad() {
			nbad++
		}
		recs = append(recs, v)
	})
	if err == nil {
		err = bad
	}
	return recs, nbad, err
}
