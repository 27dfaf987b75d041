// Package kubeprism is the node's own endpoint for the Kubernetes API, in
// the spirit of Talos's KubePrism: a TCP proxy on the node that forwards
// each connection to an apiserver that is up, so that what runs on the node
// (kubelet, kube-proxy, pods using the host's address) keeps reaching the
// API when a control plane is down, with no external load balancer. TLS
// passes through: clients verify the apiserver's own certificate (which
// names localhost and 127.0.0.1, where the proxy listens on a real node).
//
// Which apiservers are up is the node's to say (Endpoints: from the
// cluster's gossip, every control plane whose Kubernetes components are
// healthy, the node's own first); the proxy tries them in that order and
// moves on when a dial fails.
package kubeprism

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Port is where the proxy listens (Talos's KubePrism port).
const Port = 7445

// Proxy forwards each connection it accepts to the first endpoint that
// answers.
type Proxy struct {
	// Endpoints returns the apiservers to try, host:port, best first.
	Endpoints func() []string
	// DialTimeout bounds each attempt (2 s when zero).
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// ErrNoEndpoint is logged for a connection no apiserver took.
var ErrNoEndpoint = errors.New("no apiserver answers")

// Serve accepts on ln until ctx ends, then closes ln and every connection
// it holds and returns nil.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	conns := map[net.Conn]struct{}{}
	var mu sync.Mutex
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = struct{}{}
		} else {
			delete(conns, c)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			_ = c.Close()
		}
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kubeprism accept: %w", err)
		}
		wg.Go(func() {
			track(c, true)
			defer track(c, false)
			if err := p.forward(ctx, c, track); err != nil {
				log.Debug("kubeprism connection", "error", err)
			}
		})
	}
}

// forward dials the endpoints in order and pipes c to the first that
// answers, until either side closes.
func (p *Proxy) forward(ctx context.Context, c net.Conn, track func(net.Conn, bool)) error {
	defer c.Close()
	timeout := p.DialTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var up net.Conn
	var errs []error
	for _, ep := range p.Endpoints() {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", ep)
		if err == nil {
			up = conn
			break
		}
		errs = append(errs, err)
	}
	if up == nil {
		return errors.Join(append([]error{ErrNoEndpoint}, errs...)...)
	}
	track(up, true)
	defer track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	return nil
}
