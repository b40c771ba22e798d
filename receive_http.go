package sluice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
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
//     answer names the line);
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
func HTTPText(c *Context, addr string) *Stream[string] {
	c.check("HTTPText", addr == "", "empty address")
	name := "HTTPText(" + addr + ")"
	return receiverStream(c, "HTTPText", func(ctx context.Context, in *intake[string]) {
		srv := &http.Server{Handler: ingestHandler(in), ReadHeaderTimeout: 10 * time.Second,
			BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
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
		go func() { served <- srv.Serve(ln) }() // owned here: ends with Shutdown below
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
	})
}

// ingestHandler takes the records of a POST into in and answers once
// they are stored.
func ingestHandler(in *intake[string]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST lines of text", http.StatusMethodNotAllowed)
			return
		}
		if r.ContentLength > MaxRequestBytes {
			http.Error(w, fmt.Sprintf("the body is over %d bytes; nothing was taken", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		body := http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		var recs []string
		var bad error
		err := readLines(body, func(s string) { recs = append(recs, s) }, func(e error) {
			if bad == nil {
				bad = e
			}
		})
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("the body is over %d bytes; nothing was taken", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		case bad != nil:
			http.Error(w, bad.Error()+"; nothing was taken", http.StatusBadRequest)
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
		_ = json.NewEncoder(w).Encode(map[string]int{"records": len(recs)})
	})
}
