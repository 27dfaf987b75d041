package network

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// TestTwoNamespacesExchangeTCP joins two namespaces with a veth pair, applies
// each one's network from a config.NodeNetwork and proves with real TCP
// packets that the addresses and both kinds of route work: "a" reaches a
// service address on b's loopback only through a static route via b, and b
// answers a service address on a's loopback only through its default route.
func TestTwoNamespacesExchangeTCP(t *testing.T) {
	a, b := newNS(t), newNS(t)
	a.veth(t, "eth0", b, "eth0")

	cfgA := config.NodeNetwork{
		Hostname: "node-a",
		Links:    []config.Link{{Name: "eth0", Up: true, MTU: 1400}, {Name: "lo", Up: true}},
		Addresses: []config.Address{
			{Link: "eth0", CIDR: "198.18.0.1/24"},
			{Link: "lo", CIDR: "192.0.2.1/32"},
		},
		Routes: []config.Route{{Link: "eth0", Dst: "192.0.2.128/25", Gateway: "198.18.0.2", Metric: 100}},
	}
	cfgB := config.NodeNetwork{
		Hostname: "node-b",
		Links:    []config.Link{{Name: "eth0", Up: true, MTU: 1400}, {Name: "lo", Up: true}},
		Addresses: []config.Address{
			{Link: "eth0", CIDR: "198.18.0.2/24"},
			{Link: "lo", CIDR: "192.0.2.130/32"},
		},
		Routes: []config.Route{{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "198.18.0.1"}},
	}
	for _, side := range []struct {
		ns  *testNS
		cfg config.NodeNetwork
	}{{a, cfgA}, {b, cfgB}} {
		d, err := DesiredFrom(side.cfg)
		require.NoError(t, err)
		side.ns.apply(t, Desired{}, d)
	}

	// b listens on its loopback service address; a dials it from its own,
	// so the SYN needs a's static route and the SYN-ACK needs b's default.
	var ln net.Listener
	require.NoError(t, b.do(func() (err error) {
		ln, err = net.Listen("tcp", "192.0.2.130:0")
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 1)
	go func() { served <- serveOnce(ln) }()

	var conn net.Conn
	require.NoError(t, a.do(func() (err error) {
		d := net.Dialer{
			Timeout:   10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1")},
		}
		conn, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
		return err
	}))
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := conn.Write([]byte("ping\n"))
	require.NoError(t, err)
	reply, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "pong from 192.0.2.1\n", reply, "b saw a's loopback address as the source")
	require.NoError(t, <-served)
}

// serveOnce accepts one connection, reads a line and answers with the
// peer's address.
func serveOnce(ln net.Listener) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("unexpected request " + line)
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return err
	}
	_, err = c.Write([]byte("pong from " + host + "\n"))
	return err
}
