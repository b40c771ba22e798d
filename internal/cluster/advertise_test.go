package cluster

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7077": true, "localhost:7077": true, "[::1]:7077": true,
		"10.0.0.5:7077": false, "sluice-driver:7077": false, "0.0.0.0:7077": false, "nonsense": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A worker listening on every interface tells other workers the address
// this host reaches the driver from; one listening on a given address
// tells that address.
func TestAdvertised(t *testing.T) {
	port := 40123
	all := &net.TCPAddr{IP: net.IPv4zero, Port: port}
	got, err := advertised(all, "127.0.0.1:7077")
	if err != nil || got != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("advertised(:%d, loopback driver) = %q, %v", port, got, err)
	}
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	if got, err := advertised(one, "10.1.2.3:7077"); err != nil || got != one.String() {
		t.Errorf("advertised(%v) = %q, %v", one, got, err)
	}
	// The host's own non-loopback address, if it has one, is what a
	// driver there is reached from.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		got, err := advertised(all, net.JoinHostPort(ipn.IP.String(), "7077"))
		if want := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port)); err != nil || got != want {
			t.Errorf("advertised(:%d, driver %v) = %q, %v, want %q", port, ipn.IP, got, err, want)
		}
		break
	}
	if _, err := advertised(all, "no-port"); err == nil {
		t.Error("advertised with a malformed driver address: no error")
	}
}
