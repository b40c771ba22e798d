package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSecretRoundTrip(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("NewSecret gave %x and %x", a, b)
	}
	got, err := ParseSecret(EncodeSecret(a) + "\n")
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("ParseSecret(EncodeSecret(%x)) = %x, %v", a, got, err)
	}
}

func TestParseSecretErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "has 0 bytes; it needs at least 16",
		"00112233":         "has 4 bytes; it needs at least 16",
		"not hex at all!!": "must be hex",
	} {
		_, err := ParseSecret(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "rpc: ") {
			t.Errorf("ParseSecret(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestShortSecretRefused(t *testing.T) {
	sec := Security{Secret: []byte("short")}
	if _, err := sec.NewServer(); err == nil || !strings.Contains(err.Error(), "needs at least 16") {
		t.Errorf("NewServer: %v", err)
	}
	if _, err := sec.Dial("127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "needs at least 16") {
		t.Errorf("Dial: %v", err)
	}
	if _, err := sec.Listen("127.0.0.1:0"); err == nil {
		t.Error("Listen accepted a short secret")
	}
}

// Every process holding the secret builds the same CA; another secret
// gives another CA, which does not vouch for the first one's leaves.
func TestDeriveCA(t *testing.T) {
	secret := NewSecret()
	ca1, err := deriveCA(secret)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := deriveCA(bytes.Clone(secret))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca1.cert.Raw, ca2.cert.Raw) {
		t.Fatal("the same secret gave two different CA certificates")
	}
	if ca1.cert.Subject.CommonName != "sluice cluster CA" || !ca1.cert.IsCA {
		t.Fatalf("CA subject %q, IsCA %v", ca1.cert.Subject, ca1.cert.IsCA)
	}
	other, err := deriveCA(NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca1.newLeaf(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{DNSName: "sluice", Roots: ca2.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Leaf.Verify(opts); err != nil {
		t.Errorf("a leaf does not verify against the CA of the same secret: %v", err)
	}
	opts.Roots = other.pool
	if _, err := leaf.Leaf.Verify(opts); err == nil {
		t.Error("a leaf verifies against the CA of another secret")
	}
}

// A client with another secret is refused: the client gets a clear error
// from Explain, and the server logs a warning and counts the refusal.
func TestWrongSecretRefused(t *testing.T) {
	sink, logger := newLogSink()
	server := Security{Secret: NewSecret(), Logger: logger, Refusals: new(atomic.Int64)}
	addr := serve(t, server)

	cc := dial(t, Security{Secret: NewSecret()}, addr)
	_, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{})
	if err == nil {
		t.Fatal("a client with another secret made a call")
	}
	explained := Explain(err, addr)
	want := "rpc: " + addr + " refused our credentials or presented bad ones: the processes do not share the cluster secret"
	if !strings.HasPrefix(explained.Error(), want) {
		t.Errorf("Explain gave %q, want it to start with %q", explained, want)
	}
	if status.Code(explained) != codes.Unavailable {
		t.Errorf("Explain lost the status: code %v", status.Code(explained))
	}
	t.Logf("client: %v", explained)

	waitFor(t, sink, "peer does not hold the cluster secret")
	if n := server.Refusals.Load(); n < 1 {
		t.Errorf("Refusals = %d, want at least 1", n)
	}
	log := sink.String()
	for _, want := range []string{"level=WARN", `msg="rpc: refused connection"`, "addr=127.0.0.1:", "reason="} {
		if !strings.Contains(log, want) {
			t.Errorf("the server's log lacks %q:\n%s", want, log)
		}
	}
	t.Logf("server: %s", log)
}

// waitFor waits until the sink's text contains want. The deadline only
// bounds a failing test.
func waitFor(t *testing.T, sink *logSink, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(sink.String(), want) {
		select {
		case <-sink.wrote:
		case <-deadline:
			t.Fatalf("the log never said %q:\n%s", want, sink.String())
		}
	}
}

// A TLS client meeting a plain text server, and the other way round, fail
// with a clear error.
func TestModeMismatch(t *testing.T) {
	plainAddr := serve(t, Security{Plaintext: true})
	cc := dial(t, Security{Secret: NewSecret()}, plainAddr)
	_, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{})
	if err == nil || !strings.Contains(Explain(err, plainAddr).Error(), "speaks plain text but we use TLS") {
		t.Errorf("TLS client to plain text server: %v", Explain(err, plainAddr))
	}

	sink, logger := newLogSink()
	server := Security{Secret: NewSecret(), Logger: logger, Refusals: new(atomic.Int64)}
	tlsAddr := serve(t, server)
	cc = dial(t, Security{Plaintext: true}, tlsAddr)
	_, err = Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{})
	if err == nil || !strings.HasPrefix(Explain(err, tlsAddr).Error(), "rpc: cannot reach "+tlsAddr) {
		t.Errorf("plain text client to TLS server: %v", Explain(err, tlsAddr))
	}
	waitFor(t, sink, "peer does not speak TLS")
}

func TestPlaintextRoundTrip(t *testing.T) {
	sec := Security{Plaintext: true}
	addr := serve(t, sec)
	for _, target := range []string{addr, "passthrough:///" + addr} {
		cc := dial(t, sec, target)
		resp, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{Text: "plain"})
		if err != nil || resp.Text != "plain" {
			t.Fatalf("%s: %+v, %v", target, resp, Explain(err, addr))
		}
	}
}

func TestPlaintextOnlyOnLoopback(t *testing.T) {
	sec := Security{Plaintext: true}
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		l, err := sec.Listen(addr)
		if err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded in plain text mode", addr)
		} else if !strings.Contains(err.Error(), "plain text is allowed only on loopback") {
			t.Errorf("Listen(%q): %v", addr, err)
		}
	}
	for _, target := range []string{"192.0.2.1:7077", "example.com:7077", "dns:///example.com:7077", "unix:///tmp/x"} {
		cc, err := sec.Dial(target)
		if err == nil {
			cc.Close()
			t.Errorf("Dial(%q) succeeded in plain text mode", target)
		} else if !strings.Contains(err.Error(), "plain text is allowed only on loopback") {
			t.Errorf("Dial(%q): %v", target, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		l, err := sec.Listen(addr)
		if err != nil {
			if strings.Contains(err.Error(), "loopback") {
				t.Errorf("Listen(%q): %v", addr, err)
			}
			continue // e.g. no IPv6 on this machine
		}
		l.Close()
	}
}

// A plain text server refuses a connection that does not come from
// loopback even if it was handed such a listener.
func TestPlaintextServerRefusesRemotePeer(t *testing.T) {
	sink, logger := newLogSink()
	sec := Security{Plaintext: true, Logger: logger, Refusals: new(atomic.Int64)}
	g, err := sec.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	a, b := net.Pipe()
	defer b.Close()
	creds := &serverCreds{TransportCredentials: nil, sec: sec}
	_, _, err = creds.ServerHandshake(remoteConn{a, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4444}})
	if err == nil || !strings.Contains(err.Error(), "only on loopback") {
		t.Fatalf("ServerHandshake from 192.0.2.1: %v", err)
	}
	if sec.Refusals.Load() != 1 || !strings.Contains(sink.String(), "addr=192.0.2.1:4444") {
		t.Errorf("refusals %d, log %s", sec.Refusals.Load(), sink)
	}
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

func TestListenPortInUse(t *testing.T) {
	sec := Security{Secret: NewSecret()}
	l, err := sec.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	l2, err := sec.Listen(addr)
	if err == nil {
		l2.Close()
		t.Fatal("listened twice on one port")
	}
	if want := "rpc: listen on " + addr + ": address already in use"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v does not wrap EADDRINUSE", err)
	}
}

func TestOversizedMessage(t *testing.T) {
	const limit = 4 << 10
	small := Security{Secret: NewSecret(), MaxMessageBytes: limit}
	large := small
	large.MaxMessageBytes = 1 << 20
	big := make([]byte, 2*limit)

	smallServer := serve(t, small)
	largeServer := serve(t, large)
	tests := []struct {
		name   string
		client Security
		addr   string
		req    *echoReq
	}{
		{"client sends too much", small, largeServer, &echoReq{Data: big}},
		{"server receives too much", large, smallServer, &echoReq{Data: big}},
		{"client receives too much", small, largeServer, &echoReq{N: 2 * limit}},
		{"server sends too much", large, smallServer, &echoReq{N: 2 * limit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := dial(t, tt.client, tt.addr)
			_, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", tt.req)
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("got %v, want ResourceExhausted", err)
			}
			got := Explain(err, tt.addr).Error()
			if want := "rpc: a message to or from " + tt.addr + " exceeds the size limit"; !strings.HasPrefix(got, want) {
				t.Errorf("Explain gave %q, want it to start with %q", got, want)
			}
			// The connection still works for messages within the limit.
			if _, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{}); err != nil {
				t.Errorf("a small call after the refusal: %v", err)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	addr := freeAddr(t)
	cc := dial(t, Security{Secret: NewSecret()}, addr)
	_, err := Call[echoReq, echoResp](testContext(t), cc, echoService, "Echo", &echoReq{})
	want := "rpc: cannot reach " + addr + ": connection refused"
	if got := Explain(err, addr); got == nil || !strings.HasPrefix(got.Error(), want) {
		t.Errorf("Explain gave %v, want it to start with %q", got, want)
	}
}

func TestDeadline(t *testing.T) {
	addr, sec := tlsPair(t)
	cc := dial(t, sec, addr)
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	_, err := Call[echoReq, echoResp](ctx, cc, echoService, "Block", &echoReq{})
	want := "rpc: call to " + addr + " timed out"
	if got := Explain(err, addr); got == nil || !strings.HasPrefix(got.Error(), want) {
		t.Errorf("Explain gave %v, want it to start with %q", got, want)
	}
}

// An attacker who skips verifying the server and presents a certificate of
// its own making (or none) is refused by the server, which says why.
func TestServerRefusesForeignCertificate(t *testing.T) {
	foreign, err := deriveCA(NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := foreign.newLeaf(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		certs  []tls.Certificate
		reason string
	}{
		{"foreign CA", []tls.Certificate{leaf}, `reason="peer does not hold the cluster secret" err="tls: failed to verify certificate`},
		{"no certificate", nil, `reason="TLS handshake failed" err="tls: client didn't provide a certificate"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink, logger := newLogSink()
			sec := Security{Secret: NewSecret(), Logger: logger, Refusals: new(atomic.Int64)}
			addr := serve(t, sec)
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, // the attacker does not care who the server is
				Certificates:       tt.certs,
				NextProtos:         []string{"h2"},
				MinVersion:         tls.VersionTLS13,
			})
			if err == nil {
				// In TLS 1.3 the server's verdict on the client's certificate
				// arrives after the client's handshake is done.
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil {
				t.Fatal("the server accepted the connection")
			}
			waitFor(t, sink, tt.reason)
			if sec.Refusals.Load() != 1 {
				t.Errorf("Refusals = %d, want 1", sec.Refusals.Load())
			}
		})
	}
}
