package rpc

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// caInfo is the HKDF info label for the CA key. Changing it changes every
// cluster's CA, so it carries a version.
const caInfo = "sluice cluster CA v1"

// serverName is the name in every leaf certificate and the name peers
// verify: addresses change, membership is what the certificate proves.
const serverName = "sluice"

// The CA's validity is fixed (not derived from the clock) so that every
// process builds the same certificate; it is far apart because rotation
// happens by changing the secret, not by expiry.
var (
	caNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	caNotAfter  = time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Leaf validity. The leaf key is ephemeral (it lives as long as the server
// or client that made it), so a long validity adds no exposure; the
// backdating tolerates clocks that disagree between machines.
const (
	leafBackdate = 24 * time.Hour
	leafLifetime = 10 * 365 * 24 * time.Hour
)

// clusterCA is the certificate authority derived from the secret.
type clusterCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
	pool *x509.CertPool // holds cert only
}

// deriveCA builds the cluster CA from the secret. Ed25519 signatures are
// deterministic and every field is fixed, so equal secrets give byte-equal
// certificates in every process.
func deriveCA(secret []byte) (*clusterCA, error) {
	seed, err := hkdf.Key(sha256.New, secret, nil, caInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("rpc: derive the cluster key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice cluster CA"},
		NotBefore:             caNotBefore,
		NotAfter:              caNotAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // the CA signs leaves only
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("rpc: build the cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("rpc: build the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &clusterCA{cert: cert, key: key, pool: pool}, nil
}

// newLeaf makes a fresh key and a certificate for it signed by the CA, good
// for both ends of a connection.
func (ca *clusterCA) newLeaf(now time.Time) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: generate a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: generate a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: serverName},
		NotBefore:    now.Add(-leafBackdate),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{serverName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: sign a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: sign a certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// tlsConfig returns the configuration of one end: a fresh leaf, the peer
// must present a certificate from the same CA, TLS 1.3 only.
func tlsConfig(secret []byte, server bool) (*tls.Config, error) {
	ca, err := deriveCA(secret)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.newLeaf(time.Now())
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{leaf},
		MinVersion:   tls.VersionTLS13,
	}
	if server {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.pool
	} else {
		cfg.RootCAs = ca.pool
		cfg.ServerName = serverName
	}
	return cfg, nil
}

// refusalReason says in words why a server handshake failed.
func refusalReason(err error) string {
	var (
		unknownCA  x509.UnknownAuthorityError
		verify     *tls.CertificateVerificationError
		opErr      *net.OpError
		recordHdr  tls.RecordHeaderError
		netTimeout net.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return "peer does not hold the cluster secret"
	case errors.As(err, &opErr) && opErr.Op == "remote error" && strings.Contains(err.Error(), "certificate"):
		// crypto/tls reports an alert from the peer this way (its alert
		// type is unexported): the peer rejected our certificate, so it
		// trusts another CA.
		return "peer does not hold the cluster secret"
	case errors.As(err, &recordHdr):
		return "peer does not speak TLS (is it in plain text mode?)"
	case errors.As(err, &netTimeout) && netTimeout.Timeout():
		return "handshake timed out"
	default:
		return "TLS handshake failed"
	}
}
