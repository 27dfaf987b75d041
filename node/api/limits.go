package api

import (
	"net"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// MaxRequestBytes bounds every request message the node API reads, after
// decompression: the largest configuration document plus room for the rest
// of an ApplyConfig request. Connect refuses a larger message with code
// resource_exhausted from its length prefix and discards it unbuffered, so
// an oversized request costs the node no memory. docs/api.md explains the
// number.
const MaxRequestBytes = config.MaxDocumentBytes + 64<<10

// requestLimits is the handler option that applies MaxRequestBytes.
func requestLimits() connect.HandlerOption { return connect.WithReadMaxBytes(MaxRequestBytes) }

// checkApplyConfig refuses, before the request is forwarded anywhere, a
// document that cannot be a configuration: empty or not UTF-8 text
// (invalid_argument), or larger than config.MaxDocumentBytes
// (resource_exhausted). A client other than cairnctl may send any bytes.
func checkApplyConfig(m *clusterv1.ApplyConfigRequest) error {
	if err := config.CheckDocument([]byte(m.GetConfig())); err != nil {
		return toConnect(err)
	}
	return nil
}

// Connection limits of the node API's server (docs/api.md, "Limits"). A
// client without a certificate may connect (joining nodes present the join
// token instead), so these bound what anyone who reaches the port can hold:
const (
	// MaxConnections is how many connections the server holds at once;
	// one past it is accepted and closed at once. Not per client address:
	// a local cluster's nodes all dial from 127.0.0.1, and clients behind
	// one NAT share an address.
	MaxConnections = 4096
	// HandshakeTimeout bounds the TLS handshake and the first request's
	// headers (a slowloris client is cut off after it).
	HandshakeTimeout = 10 * time.Second
	// IdleTimeout closes a connection with no request or stream running
	// (HTTP/1 keep-alive, HTTP/2 with no stream): watches and log follows
	// are streams, so they stay.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers (gRPC metadata is small).
	MaxHeaderBytes = 64 << 10
	// MaxConcurrentStreams bounds the calls one HTTP/2 connection runs at
	// once (Go's default, stated).
	MaxConcurrentStreams = 250
)

// limitListener accepts at most max connections at once: beyond, it
// closes what it accepts (the client sees the connection reset) instead
// of letting the server's goroutines and buffers grow with an attacker's
// connections.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, max int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.Close()
		}
	}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
