package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoReq and echoResp are the test service's messages.
type echoReq struct {
	Text string
	Data []byte
	N    int // ServerStream: how many responses; Echo: size of the response's Data
}

type echoResp struct {
	Text string
	Data []byte
	From string // PeerAddr as the handler saw it
}

const echoService = "sluice.Test"

// newEchoService builds the test service: Echo (unary), Count (server
// stream), Chat (bidi), Fail (unary, always an error) and Block (unary,
// waits for its context).
func newEchoService() *Service {
	s := NewService(echoService)
	Unary(s, "Echo", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		resp := &echoResp{Text: req.Text, Data: req.Data, From: PeerAddr(ctx)}
		if req.N > 0 {
			resp.Data = make([]byte, req.N)
		}
		return resp, nil
	})
	ServerStream(s, "Count", func(ctx context.Context, req *echoReq, send func(*echoResp) error) error {
		for i := range req.N {
			if err := send(&echoResp{Text: req.Text, Data: []byte{byte(i)}}); err != nil {
				return err
			}
		}
		if req.Text == "fail" {
			return errFailed
		}
		return nil
	})
	Bidi(s, "Chat", func(ctx context.Context, recv func() (*echoReq, error), send func(*echoResp) error) error {
		for {
			m, err := recv()
			if err != nil {
				return ignoreEOF(err)
			}
			if err := send(&echoResp{Text: "re: " + m.Text, From: PeerAddr(ctx)}); err != nil {
				return err
			}
		}
	})
	Unary(s, "Fail", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		return nil, errFailed
	})
	Unary(s, "Nil", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		return nil, nil
	})
	Unary(s, "Block", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	return s
}

// serve starts a server for sec with the echo service on 127.0.0.1:0 and
// returns its address; t.Cleanup stops it and waits for Serve to return.
func serve(t testing.TB, sec Security) string {
	t.Helper()
	l, err := sec.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := sec.NewServer()
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	newEchoService().Register(g)
	done := make(chan error, 1)
	go func() { done <- g.Serve(l) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// dial connects to addr with sec; t.Cleanup closes the connection.
func dial(t testing.TB, sec Security, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := sec.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// testContext returns a context that bounds a test's calls, so that a hang
// fails the test instead of the whole run.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logSink is a slog destination for tests: it keeps the text and signals
// each write on wrote.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // capacity 1; a pending signal means "something new"
}

func newLogSink() (*logSink, *slog.Logger) {
	s := &logSink{wrote: make(chan struct{}, 1)}
	return s, slog.New(slog.NewTextHandler(s, nil))
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// freeAddr returns a loopback address where nothing listens (a port that
// was just free).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var errFailed = errors.New("the handler failed")

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}
