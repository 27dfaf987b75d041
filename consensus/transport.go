package consensus

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// TLSConfig makes the Raft transport mutual TLS. Server is used for accepted
// connections (set ClientAuth to tls.RequireAndVerifyClientCert for mTLS) and
// Client for dialed ones (with the peer CA in RootCAs and a client cert).
type TLSConfig struct {
	Server *tls.Config
	Client *tls.Config
}

// tcpStream is a raft.StreamLayer over TCP, optionally wrapped in TLS.
type tcpStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

// NewTCPStreamLayer returns a raft.StreamLayer that accepts on ln and
// advertises advertise (ln's address when nil). With t set, both directions
// run TLS.
func NewTCPStreamLayer(ln net.Listener, advertise net.Addr, t *TLSConfig) raft.StreamLayer {
	s := &tcpStream{Listener: ln, advertise: advertise}
	if t != nil {
		s.Listener = tls.NewListener(ln, t.Server)
		s.client = t.Client
	}
	if s.advertise == nil {
		s.advertise = ln.Addr()
	}
	return s
}

// Addr implements net.Listener with the advertised address, which is what
// peers store in the Raft configuration.
func (s *tcpStream) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer.
func (s *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if s.client == nil {
		return d.Dial("tcp", string(address))
	}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), s.client)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return conn, nil
}
