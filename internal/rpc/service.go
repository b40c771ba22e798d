package rpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Service is a gRPC service built from typed Go handlers, so that callers
// never write a grpc.ServiceDesc. Add methods with Unary, ServerStream and
// Bidi, then Register it; a Service must not change after Register.
type Service struct {
	desc  grpc.ServiceDesc
	names map[string]bool // method names taken, to catch duplicates
}

// NewService returns an empty service with a full name such as
// "sluice.Driver".
func NewService(name string) *Service {
	if name == "" {
		panic("rpc: NewService with an empty name")
	}
	return &Service{
		desc: grpc.ServiceDesc{
			ServiceName: name,
			// Handlers are closures, so the service value is unused and
			// any type will do.
			HandlerType: (*any)(nil),
		},
		names: make(map[string]bool),
	}
}

// Name returns the service's full name.
func (s *Service) Name() string { return s.desc.ServiceName }

// add reserves a method name; a duplicate or empty name is a programming
// error.
func (s *Service) add(method string) {
	if method == "" || s.names[method] {
		panic(fmt.Sprintf("rpc: service %s: method name %q is empty or already used", s.desc.ServiceName, method))
	}
	s.names[method] = true
}

// Register adds the service to a server (a *grpc.Server) before it serves.
func (s *Service) Register(g grpc.ServiceRegistrar) {
	g.RegisterService(&s.desc, s)
}

// Unary adds a method that takes one request and returns one response.
// An error that is not a gRPC status reaches the client as codes.Unknown
// with its message.
func Unary[Req, Resp any](s *Service, method string, h func(ctx context.Context, req *Req) (*Resp, error)) {
	s.add(method)
	full := "/" + s.desc.ServiceName + "/" + method
	call := func(ctx context.Context, req *Req) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			return nil, status.Errorf(codes.Internal, "rpc: %s returned neither a response nor an error", full)
		}
		return resp, nil
	}
	s.desc.Methods = append(s.desc.Methods, grpc.MethodDesc{
		MethodName: method,
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			req := new(Req)
			if err := dec(req); err != nil {
				return nil, err
			}
			if icpt == nil {
				return call(ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: full}
			return icpt(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				return call(ctx, req.(*Req))
			})
		},
	})
}

// ServerStream adds a method that takes one request and sends any number of
// responses; the stream ends when h returns.
func ServerStream[Req, Resp any](s *Service, method string, h func(ctx context.Context, req *Req, send func(*Resp) error) error) {
	s.add(method)
	s.desc.Streams = append(s.desc.Streams, grpc.StreamDesc{
		StreamName:    method,
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			req := new(Req)
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return h(stream.Context(), req, func(m *Resp) error { return stream.SendMsg(m) })
		},
	})
}

// Bidi adds a method where both sides send any number of messages. recv
// returns io.EOF once the client has called CloseSend; the stream ends when
// h returns.
func Bidi[In, Out any](s *Service, method string, h func(ctx context.Context, recv func() (*In, error), send func(*Out) error) error) {
	s.add(method)
	s.desc.Streams = append(s.desc.Streams, grpc.StreamDesc{
		StreamName:    method,
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			recv := func() (*In, error) {
				m := new(In)
				if err := stream.RecvMsg(m); err != nil {
					return nil, err
				}
				return m, nil
			}
			return h(stream.Context(), recv, func(m *Out) error { return stream.SendMsg(m) })
		},
	})
}

// PeerAddr returns the remote address of the call being handled in ctx, or
// "" if there is none.
func PeerAddr(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	return p.Addr.String()
}
