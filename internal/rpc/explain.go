package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clearError is an error whose message says plainly what happened, followed
// by the original error, which it wraps (so status.Code, errors.Is and
// errors.As still see it).
type clearError struct {
	msg   string
	err   error
	brief bool // the message says all that err says: do not repeat it
}

func (e *clearError) Error() string {
	if e.brief {
		return e.msg
	}
	return e.msg + " (" + e.err.Error() + ")"
}

func (e *clearError) Unwrap() error { return e.err }

// Explain turns an error from a call to peer into one that says what went
// wrong in words an operator can act on: the processes do not share the
// cluster secret, the peer cannot be reached, the call timed out, a message
// was too large, the peer does not serve the method. The result wraps err.
// Errors it does not recognise, nil and already explained errors are
// returned unchanged.
func Explain(err error, peer string) error {
	if err == nil {
		return nil
	}
	var done *clearError
	if errors.As(err, &done) {
		return err
	}
	if msg := explanation(err, peer); msg != "" {
		return &clearError{msg: msg, err: err}
	}
	return err
}

// explanation returns the plain message for err, or "".
func explanation(err error, peer string) string {
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("rpc: call to %s timed out", peer)
		}
		return ""
	}
	desc := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		return unavailable(desc, peer)
	case codes.DeadlineExceeded:
		return fmt.Sprintf("rpc: call to %s timed out", peer)
	case codes.ResourceExhausted:
		if strings.Contains(desc, "larger than max") {
			return fmt.Sprintf("rpc: a message to or from %s exceeds the size limit (MaxMessageBytes)", peer)
		}
	case codes.Unimplemented:
		return fmt.Sprintf("rpc: %s does not serve this method (are both processes the same version?)", peer)
	}
	return ""
}

// unavailable explains a codes.Unavailable status from its description,
// which is the only place gRPC keeps the transport's reason.
func unavailable(desc, peer string) string {
	switch {
	case strings.Contains(desc, "first record does not look like a TLS handshake"):
		return fmt.Sprintf("rpc: %s speaks plain text but we use TLS: both sides must use the same mode", peer)
	case strings.Contains(desc, "authentication handshake failed"),
		strings.Contains(desc, "x509:"),
		strings.Contains(desc, "tls:"):
		return fmt.Sprintf("rpc: %s refused our credentials or presented bad ones: the processes do not share the cluster secret", peer)
	case strings.Contains(desc, "connection refused"):
		return fmt.Sprintf("rpc: cannot reach %s: connection refused", peer)
	case strings.Contains(desc, "no such host"):
		return fmt.Sprintf("rpc: cannot reach %s: no such host", peer)
	default:
		return fmt.Sprintf("rpc: cannot reach %s", peer)
	}
}
