// Package rpc is the gRPC plumbing between Sluice processes: the driver and
// its workers, and workers among themselves. It gives them authenticated
// connections, a message codec and typed services, so that no other
// package writes a grpc.ServiceDesc, a TLS configuration or a codec.
//
// # Use
//
// Messages are plain Go structs with exported fields; []byte fields carry
// data already encoded elsewhere (record batches from internal/codec).
//
//	sec := rpc.Security{Secret: secret} // from rpc.ParseSecret(flag or env)
//
//	// server
//	svc := rpc.NewService("sluice.Driver")
//	rpc.Unary(svc, "Register", func(ctx context.Context, req *RegisterReq) (*RegisterResp, error) { … })
//	rpc.ServerStream(svc, "Blocks", func(ctx context.Context, req *BlocksReq, send func(*Block) error) error { … })
//	rpc.Bidi(svc, "Heartbeat", func(ctx context.Context, recv func() (*Beat, error), send func(*Order) error) error { … })
//	l, err := sec.Listen(":7077")
//	srv, err := sec.NewServer()
//	svc.Register(srv)
//	go srv.Serve(l) // the caller owns this goroutine: srv.Stop or GracefulStop ends it
//
//	// client
//	cc, err := sec.Dial("driver-host:7077")
//	resp, err := rpc.Call[RegisterReq, RegisterResp](ctx, cc, "sluice.Driver", "Register", req)
//	if err != nil {
//		return rpc.Explain(err, "driver-host:7077") // says what went wrong in words
//	}
//
// CallStream returns a recv function that yields responses then io.EOF;
// OpenBidi returns a BidiStream with Send, Recv and CloseSend. A caller that
// abandons a stream before its end must cancel the call's context. Handler
// errors that are not gRPC statuses reach the client as codes.Unknown with
// their message; PeerAddr tells a handler who is calling.
//
// # Trust model
//
// Every process is given the same cluster secret (at least 16 bytes;
// NewSecret makes 32, EncodeSecret and ParseSecret write and read it as
// hex). From it each process derives, with HKDF-SHA256 and a fixed label,
// the same Ed25519 key and builds the same CA certificate ("sluice cluster
// CA", fixed serial and validity). Each server and client then makes a
// fresh ephemeral key and a certificate for it signed by that CA, naming
// "sluice" (and 127.0.0.1, ::1). Connections are TLS 1.3 and both ends
// require and verify the other's certificate against the CA, with the name
// "sluice" rather than an address, since workers move. So holding the
// secret is membership: nothing else is configured or distributed, and a
// process without the secret cannot complete a handshake in either
// direction. To rotate the secret, restart the cluster with a new one
// (processes with the old and the new secret cannot talk). The secret is
// the only thing to protect: pass it by environment or file, not on a
// command line that other users can read.
//
// Servers log every refused connection as a warning with the remote
// address, the reason and the error (`msg="rpc: refused connection"
// addr=10.0.0.9:53122 reason="peer does not hold the cluster secret"
// err=…`) and count it in Security.Refusals if that is set. Clients learn
// the same from Explain.
//
// Plaintext is an explicit development mode: no TLS and no authentication,
// so Listen and Dial accept only loopback addresses and the server drops
// connections that do not come from loopback.
//
// # Limits
//
// Messages are at most Security.MaxMessageBytes (64 MiB by default) each
// way, enforced by gRPC on both sides before decoding; a larger message
// fails with codes.ResourceExhausted, which Explain puts in words. The
// decoder also bounds array and map sizes and nesting depth, and refuses
// duplicate map keys. The server bounds handshakes (10 s) and concurrent
// streams per connection (1024). Clients ping idle connections every 10 s
// and drop them when a ping goes unanswered for 10 s, so a lost peer is
// noticed without application heartbeats; servers accept such pings.
//
// # Encoding
//
// The codec, "sluice-cbor" (content type application/grpc+sluice-cbor),
// encodes messages as CBOR (RFC 8949) with core deterministic encoding.
// NewServer and Dial force it on both ends, so nothing is registered
// globally; the client helpers therefore need a connection from Dial.
// Marshal and Unmarshal expose the same encoding and limits, for fuzz
// targets and for data stored outside a call (go test -fuzz=FuzzUnmarshal).
//
// # Why gRPC and CBOR
//
// DESIGN.md section 9 asks for a well-kept RPC framework rather than a
// home-made wire protocol, with streaming calls for shuffle and block
// transfer: gRPC (google.golang.org/grpc) has them, plus flow control,
// keepalive, deadlines and status codes. Its usual message format needs
// protoc and generated code, which the build machines do not have, so the
// messages are Go structs encoded with github.com/fxamacker/cbor/v2: a
// well-kept, fuzzed implementation of an IETF standard whose decoder has the
// limits untrusted input needs. encoding/gob is not meant for data from the
// network. Services are declared with hand-built grpc.ServiceDesc values
// behind the typed helpers.
//
// # Goroutines
//
// The package starts none of its own. gRPC starts its usual ones: per
// server, the caller's Serve loop plus per-connection readers and
// keepalive; per ClientConn, its connection management. They end with
// grpc.Server.Stop (or GracefulStop) and ClientConn.Close, and a stream's
// with the end of the call or the cancellation of its context.
package rpc
