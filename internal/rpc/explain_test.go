package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestExplain(t *testing.T) {
	const peer = "10.0.0.7:7077"
	other := errors.New("something else")
	tests := []struct {
		err  error
		want string // prefix of the explained message; "" means unchanged
	}{
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`),
			"rpc: 10.0.0.7:7077 refused our credentials or presented bad ones: the processes do not share the cluster secret ("},
		{status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: remote error: tls: bad certificate"`),
			"rpc: 10.0.0.7:7077 refused our credentials or presented bad ones"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.7:7077: connect: connection refused"`),
			"rpc: cannot reach 10.0.0.7:7077: connection refused ("},
		{status.Error(codes.Unavailable, `name resolver error: produced zero addresses; lookup nohost: no such host`),
			"rpc: cannot reach 10.0.0.7:7077: no such host"},
		{status.Error(codes.Unavailable, "error reading server preface: EOF"), "rpc: cannot reach 10.0.0.7:7077 ("},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "rpc: call to 10.0.0.7:7077 timed out"},
		{fmt.Errorf("waiting: %w", context.DeadlineExceeded), "rpc: call to 10.0.0.7:7077 timed out"},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (9000 vs. 4096)"),
			"rpc: a message to or from 10.0.0.7:7077 exceeds the size limit (MaxMessageBytes) (rpc error: code = ResourceExhausted desc = grpc: received message larger than max (9000 vs. 4096))"},
		{status.Error(codes.Unimplemented, "unknown method X"), "rpc: 10.0.0.7:7077 does not serve this method"},
		{status.Error(codes.ResourceExhausted, "quota"), ""},
		{status.Error(codes.NotFound, "no such block"), ""},
		{other, ""},
	}
	for _, tt := range tests {
		got := Explain(tt.err, peer)
		if tt.want == "" {
			if got != tt.err {
				t.Errorf("Explain(%v) = %v, want it unchanged", tt.err, got)
			}
			continue
		}
		if !strings.HasPrefix(got.Error(), tt.want) {
			t.Errorf("Explain(%v)\n got %q\nwant %q...", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("Explain(%v) does not wrap the original", tt.err)
		}
		if status.Code(got) != status.Code(tt.err) {
			t.Errorf("Explain(%v) changed the code to %v", tt.err, status.Code(got))
		}
		if again := Explain(got, peer); again != got {
			t.Errorf("Explain is not idempotent: %v", again)
		}
	}
	if Explain(nil, peer) != nil {
		t.Error("Explain(nil) is not nil")
	}
}
