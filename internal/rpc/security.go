package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// MinSecretBytes is the shortest cluster secret accepted.
const MinSecretBytes = 16

// Connection limits and heartbeats. The client pings an idle connection
// every keepaliveTime and drops it when no answer comes within
// keepaliveTimeout, so a lost server is noticed in about 20 s even without
// calls in flight. The server accepts pings up to twice that often (more
// is abuse, and it closes the connection) and pings quiet clients itself
// every serverKeepaliveTime, so it also notices a lost client.
const (
	keepaliveTime        = 10 * time.Second
	keepaliveTimeout     = 10 * time.Second
	keepaliveMinPing     = 5 * time.Second
	serverKeepaliveTime  = 30 * time.Second
	handshakeTimeout     = 10 * time.Second
	maxConcurrentStreams = 1024 // per connection; further streams wait for one to end
)

// Security is how a process joins the cluster's connections: mutual TLS with
// certificates from a CA derived from Secret, or explicit plain text on
// loopback. The zero value is invalid (no secret, not plain text).
type Security struct {
	Secret []byte // cluster secret, at least MinSecretBytes; unused with Plaintext
	// Plaintext is the explicit development mode: no TLS, so only loopback
	// addresses may listen or be dialled.
	Plaintext       bool
	MaxMessageBytes int          // per message, each way; 0: DefaultMaxMessageBytes
	Logger          *slog.Logger // refused connections are logged here; nil: slog.Default()
	// Refusals, if not nil, counts the connections that servers built by
	// NewServer refused (failed handshake, or a non-loopback peer in plain
	// text mode). A pointer so that copies of a Security share it.
	Refusals *atomic.Int64
}

// NewSecret returns a fresh random 32-byte cluster secret.
func NewSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return b
}

// EncodeSecret returns b in hex, for flags and environment variables.
func EncodeSecret(b []byte) string { return hex.EncodeToString(b) }

// ParseSecret decodes a secret written by EncodeSecret.
func ParseSecret(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("rpc: the cluster secret must be hex (as printed by EncodeSecret): %w", err)
	}
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("rpc: the cluster secret has %d bytes; it needs at least %d (%d hex digits)", len(b), MinSecretBytes, 2*MinSecretBytes)
	}
	return b, nil
}

func (s Security) maxMessageBytes() int {
	if s.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return s.MaxMessageBytes
}

func (s Security) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// check reports a Security that cannot make connections.
func (s Security) check() error {
	if !s.Plaintext && len(s.Secret) < MinSecretBytes {
		return fmt.Errorf("rpc: the cluster secret has %d bytes; it needs at least %d (or choose plain text on loopback explicitly)", len(s.Secret), MinSecretBytes)
	}
	return nil
}

// Listen listens on a TCP address (host:port; port 0 picks one). In plain
// text mode the host must be a loopback address or "localhost".
func (s Security) Listen(addr string) (net.Listener, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.Plaintext && !isLoopbackHostPort(addr) {
		return nil, fmt.Errorf("rpc: listen on %s: plain text is allowed only on loopback (127.0.0.1, ::1, localhost)", addr)
	}
	l, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &clearError{msg: fmt.Sprintf("rpc: listen on %s: address already in use", addr), err: err, brief: true}
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: listen on %s: %w", addr, err)
	}
	return l, nil
}

// NewServer returns a gRPC server that speaks the codec, enforces the message
// size limit and keepalive policy, and requires peers to hold the secret
// (or, in plain text mode, to connect from loopback). Refused connections
// are logged as warnings and counted in Refusals. opts are applied after the
// package's own options.
func (s Security) NewServer(opts ...grpc.ServerOption) (*grpc.Server, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var inner credentials.TransportCredentials = insecure.NewCredentials()
	if !s.Plaintext {
		cfg, err := tlsConfig(s.Secret, true)
		if err != nil {
			return nil, err
		}
		inner = credentials.NewTLS(cfg)
	}
	creds := &serverCreds{TransportCredentials: inner, sec: s}
	limit := s.maxMessageBytes()
	base := []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.ForceServerCodecV2(codec{maxBytes: limit}),
		grpc.MaxRecvMsgSize(limit),
		grpc.MaxSendMsgSize(limit),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinPing,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    serverKeepaliveTime,
			Timeout: keepaliveTimeout,
		}),
	}
	return grpc.NewServer(append(base, opts...)...), nil
}

// Dial returns a client connection to target (host:port) that speaks the
// codec, enforces the message size limit, sends keepalive pings and
// verifies that the server holds the secret. Like grpc.NewClient it does
// not connect until the first call. opts are applied after the package's
// own options.
func (s Security) Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var creds credentials.TransportCredentials
	if s.Plaintext {
		if !isLoopbackHostPort(targetHostPort(target)) {
			return nil, fmt.Errorf("rpc: dial %s: plain text is allowed only on loopback (127.0.0.1, ::1, localhost)", target)
		}
		creds = insecure.NewCredentials()
	} else {
		cfg, err := tlsConfig(s.Secret, false)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	limit := s.maxMessageBytes()
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(codec{maxBytes: limit}),
			grpc.MaxCallRecvMsgSize(limit),
			grpc.MaxCallSendMsgSize(limit),
		),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                keepaliveTime,
			Timeout:             keepaliveTimeout,
			PermitWithoutStream: true,
		}),
	}
	cc, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", target, err)
	}
	return cc, nil
}

// isLoopbackHostPort reports whether hostport names a loopback host. An
// empty host means every interface, so it is not loopback.
func isLoopbackHostPort(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// targetHostPort strips a gRPC target's scheme ("dns:///h:p",
// "passthrough:///h:p"), leaving host:port.
func targetHostPort(target string) string {
	if _, rest, ok := strings.Cut(target, ":///"); ok {
		return rest
	}
	return target
}

// isLoopbackAddr reports whether a connection's remote address is loopback.
func isLoopbackAddr(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsLoopback()
}

// serverCreds wraps the server's transport credentials to log and count
// refused connections: gRPC itself only reports them to its own logger.
type serverCreds struct {
	credentials.TransportCredentials
	sec Security
}

func (c *serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	remote := conn.RemoteAddr()
	if c.sec.Plaintext && !isLoopbackAddr(remote) {
		conn.Close()
		err := errors.New("rpc: plain text is allowed only on loopback")
		c.refuse(remote, "peer is not on loopback and the server is in plain text mode", err)
		return nil, nil, err
	}
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.refuse(remote, refusalReason(err), err)
	}
	return out, info, err
}

func (c *serverCreds) refuse(remote net.Addr, reason string, err error) {
	if c.sec.Refusals != nil {
		c.sec.Refusals.Add(1)
	}
	c.sec.logger().LogAttrs(context.Background(), slog.LevelWarn, "rpc: refused connection",
		slog.String("addr", remote.String()), slog.String("reason", reason), slog.Any("err", err))
}

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: c.TransportCredentials.Clone(), sec: c.sec}
}
