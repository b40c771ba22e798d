package rpc

import (
	"context"

	"google.golang.org/grpc"
)

// The client helpers take any grpc.ClientConnInterface, but the connection
// must speak the codec: use one from Security.Dial.

func fullMethod(service, method string) string { return "/" + service + "/" + method }

// Call makes a unary call to service/method.
func Call[Req, Resp any](ctx context.Context, cc grpc.ClientConnInterface, service, method string, req *Req) (*Resp, error) {
	resp := new(Resp)
	if err := cc.Invoke(ctx, fullMethod(service, method), req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// CallStream starts a server-streaming call to service/method. recv returns
// the responses in order, then io.EOF when the server's handler returns
// nil, or the handler's error. A caller that stops before the end must
// cancel ctx, which ends the stream and frees its resources.
func CallStream[Req, Resp any](ctx context.Context, cc grpc.ClientConnInterface, service, method string, req *Req) (recv func() (*Resp, error), err error) {
	desc := &grpc.StreamDesc{StreamName: method, ServerStreams: true}
	cs, err := cc.NewStream(ctx, desc, fullMethod(service, method))
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(req); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	return func() (*Resp, error) {
		m := new(Resp)
		if err := cs.RecvMsg(m); err != nil {
			return nil, err
		}
		return m, nil
	}, nil
}

// BidiStream is the client's end of a bidirectional stream. One goroutine
// may Send (and CloseSend) while another Recvs; two goroutines must not
// Send at once, nor Recv at once.
type BidiStream[In, Out any] struct {
	cs grpc.ClientStream
}

// OpenBidi starts a bidirectional call to service/method. The caller ends it
// by calling CloseSend and receiving until io.EOF, or by cancelling ctx
// (which it must do if it stops early).
func OpenBidi[In, Out any](ctx context.Context, cc grpc.ClientConnInterface, service, method string) (*BidiStream[In, Out], error) {
	desc := &grpc.StreamDesc{StreamName: method, ServerStreams: true, ClientStreams: true}
	cs, err := cc.NewStream(ctx, desc, fullMethod(service, method))
	if err != nil {
		return nil, err
	}
	return &BidiStream[In, Out]{cs: cs}, nil
}

// Send sends one message. It returns io.EOF if the server ended the
// stream; Recv then returns the server's status.
func (b *BidiStream[In, Out]) Send(m *In) error { return b.cs.SendMsg(m) }

// Recv receives one message; io.EOF means the server's handler returned nil.
func (b *BidiStream[In, Out]) Recv() (*Out, error) {
	m := new(Out)
	if err := b.cs.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CloseSend tells the server that no more messages will come.
func (b *BidiStream[In, Out]) CloseSend() error { return b.cs.CloseSend() }
