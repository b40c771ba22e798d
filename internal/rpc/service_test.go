package rpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tlsPair returns a server address and a client connection that share a
// fresh secret.
func tlsPair(t *testing.T) (string, Security) {
	t.Helper()
	sec := Security{Secret: NewSecret()}
	return serve(t, sec), sec
}

func TestUnaryOverTLS(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	ctx := testContext(t)
	req := &echoReq{Text: "hello", Data: []byte{0, 1, 2, 255}}
	resp, err := Call[echoReq, echoResp](ctx, cc, echoService, "Echo", req)
	if err != nil {
		t.Fatal(Explain(err, addr))
	}
	if resp.Text != req.Text || !bytes.Equal(resp.Data, req.Data) {
		t.Errorf("got %+v, want the request's text and data back", resp)
	}
	if !strings.HasPrefix(resp.From, "127.0.0.1:") {
		t.Errorf("PeerAddr in the handler = %q, want 127.0.0.1:port", resp.From)
	}
}

// The certificate names "sluice", not an address, so any name that reaches
// the server works.
func TestDialByHostName(t *testing.T) {
	addr, sec := tlsPair(t)
	_, port, _ := strings.Cut(addr, ":")
	cc := dial(t, sec, "localhost:"+port)
	if _, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{}); err != nil {
		t.Fatal(Explain(err, addr))
	}
}

func TestUnaryErrors(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	ctx := testContext(t)
	tests := []struct {
		method string
		code   codes.Code
		msg    string
	}{
		{"Fail", codes.Unknown, errFailed.Error()},
		{"Nil", codes.Internal, "returned neither a response nor an error"},
		{"Missing", codes.Unimplemented, "Missing"},
	}
	for _, tt := range tests {
		_, err := Call[echoReq, echoResp](ctx, cc, echoService, tt.method, &echoReq{})
		st := status.Convert(err)
		if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tt.method, err, tt.code, tt.msg)
		}
	}
}

func TestServerStreamOverTLS(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	for _, tt := range []struct {
		text string
		n    int
		end  error // what recv returns after the n responses
	}{
		{"ok", 0, io.EOF},
		{"ok", 5, io.EOF},
		{"fail", 3, status.Error(codes.Unknown, errFailed.Error())},
	} {
		t.Run(fmt.Sprintf("%s-%d", tt.text, tt.n), func(t *testing.T) {
			recv, err := CallStream[echoReq, echoResp](testContext(t), cc, echoService, "Count", &echoReq{Text: tt.text, N: tt.n})
			if err != nil {
				t.Fatal(Explain(err, addr))
			}
			for i := range tt.n {
				m, err := recv()
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if m.Text != tt.text || !bytes.Equal(m.Data, []byte{byte(i)}) {
					t.Fatalf("response %d = %+v", i, m)
				}
			}
			_, err = recv()
			if err != tt.end && status.Convert(err).String() != status.Convert(tt.end).String() {
				t.Fatalf("after %d responses recv returned %v, want %v", tt.n, err, tt.end)
			}
		})
	}
}

func TestBidiOverTLS(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	ctx := testContext(t)
	st, err := OpenBidi[echoReq, echoResp](ctx, cc, echoService, "Chat")
	if err != nil {
		t.Fatal(Explain(err, addr))
	}
	words := []string{"a", "b", "c"}
	for _, w := range words {
		if err := st.Send(&echoReq{Text: w}); err != nil {
			t.Fatal(err)
		}
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Text != "re: "+w || !strings.HasPrefix(m.From, "127.0.0.1:") {
			t.Fatalf("got %+v for %q", m, w)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend Recv = %+v, %v; want io.EOF", m, err)
	}
}

// A client that stops reading a stream early cancels its context; the
// server's handler sees the cancellation and returns (goleak checks that
// nothing stays behind).
func TestStreamAbandoned(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	ctx, cancel := context.WithCancel(testContext(t))
	recv, err := CallStream[echoReq, echoResp](ctx, cc, echoService, "Count", &echoReq{N: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := recv(); err != nil {
			if status.Code(err) != codes.Canceled {
				t.Fatalf("after cancel recv = %v, want Canceled", err)
			}
			break
		}
	}
}

func TestServicePanicsOnDuplicateMethod(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a duplicate method name")
		}
	}()
	s := NewService("sluice.Dup")
	Unary(s, "M", func(context.Context, *echoReq) (*echoResp, error) { return nil, nil })
	ServerStream(s, "M", func(context.Context, *echoReq, func(*echoResp) error) error { return nil })
}

func TestPeerAddrWithoutPeer(t *testing.T) {
	if got := PeerAddr(context.Background()); got != "" {
		t.Errorf("PeerAddr(Background) = %q, want empty", got)
	}
}

func TestHandlerErrorKeepsStatus(t *testing.T) {
	s := NewService("sluice.Status")
	Unary(s, "NotFound", func(context.Context, *echoReq) (*echoResp, error) {
		return nil, status.Error(codes.NotFound, "no such block")
	})
	sec := Security{Secret: NewSecret()}
	l, err := sec.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := sec.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	s.Register(g)
	done := make(chan error, 1)
	go func() { done <- g.Serve(l) }()
	defer func() { g.Stop(); <-done }()
	cc := dial(t, sec, l.Addr().String())
	_, err = Call[echoReq, echoResp](testContext(t), cc, "sluice.Status", "NotFound", &echoReq{})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such block" {
		t.Fatalf("got %v, want NotFound: no such block", err)
	}
}
