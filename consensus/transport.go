package consensus

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
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

	// raft's NetworkTransport never closes the connections it accepted;
	// their handler goroutines would outlive the store. Close closes them.
	mu       sync.Mutex
	accepted map[net.Conn]struct{}
	closed   bool
}

// NewTCPStreamLayer returns a raft.StreamLayer that accepts on ln and
// advertises advertise (ln's address when nil). With t set, both directions
// run TLS.
func NewTCPStreamLayer(ln net.Listener, advertise net.Addr, t *TLSConfig) raft.StreamLayer {
	s := &tcpStream{Listener: ln, advertise: advertise, accepted: map[net.Conn]struct{}{}}
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

// Accept implements net.Listener, tracking the connection for Close.
func (s *tcpStream) Accept() (net.Conn, error) {
	conn, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: conn, stream: s}
	s.accepted[tc] = struct{}{}
	return tc, nil
}

// Close implements net.Listener: it stops accepting and closes every
// accepted connection.
func (s *tcpStream) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.accepted
	s.accepted = map[net.Conn]struct{}{}
	s.mu.Unlock()
	err := s.Listener.Close()
	for c := range conns {
		_ = c.Close() // the peer may have closed it first
	}
	return err
}

type trackedConn struct {
	net.Conn
	stream *tcpStream
	once   sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.stream.mu.Lock()
		delete(c.stream.accepted, c)
		c.stream.mu.Unlock()
	})
	return c.Conn.Close()
}
