package rpc_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/sluicehq/sluice/internal/rpc"
)

type PingRequest struct{ Name string }
type PingReply struct{ Greeting string }

// A driver serves a unary method over mutual TLS; a worker holding the same
// secret calls it.
func ExampleCall() {
	sec := rpc.Security{Secret: rpc.NewSecret()} // shared by every process of the cluster

	// Driver.
	svc := rpc.NewService("sluice.Driver")
	rpc.Unary(svc, "Ping", func(ctx context.Context, req *PingRequest) (*PingReply, error) {
		return &PingReply{Greeting: "hello, " + req.Name}, nil
	})
	l, err := sec.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := sec.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	svc.Register(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() { srv.Stop(); <-served }()

	// Worker.
	addr := l.Addr().String()
	cc, err := sec.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	reply, err := rpc.Call[PingRequest, PingReply](context.Background(), cc, "sluice.Driver", "Ping", &PingRequest{Name: "worker 1"})
	if err != nil {
		log.Fatal(rpc.Explain(err, addr))
	}
	fmt.Println(reply.Greeting)

	// A process with another secret is turned away.
	stranger, err := rpc.Security{Secret: rpc.NewSecret()}.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer stranger.Close()
	_, err = rpc.Call[PingRequest, PingReply](context.Background(), stranger, "sluice.Driver", "Ping", &PingRequest{Name: "stranger"})
	fmt.Println(strings.Contains(rpc.Explain(err, addr).Error(), "do not share the cluster secret"))
	// Output:
	// hello, worker 1
	// true
}
