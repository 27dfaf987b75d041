package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

// headerNode names the node a request is meant for; the receiving node
// proxies it there. It is node/api.HeaderNode, repeated so that cairnctl
// does not link the node runtime.
const headerNode = "Cairn-Node"

// endpoint is one node API address with its service clients.
type endpoint struct {
	addr     string
	cluster  clusterv1connect.ClusterServiceClient
	machine  machinev1connect.MachineServiceClient
	security securityv1connect.SecurityServiceClient
	resource resourcev1connect.ResourceServiceClient
	service  servicev1connect.ServiceServiceClient
	// clusterResource reads the cluster-plane resources.
	clusterResource clusterv1connect.ClusterResourceServiceClient
}

// apiClient talks to the first reachable of several endpoints and sticks to
// the one that answered last.
type apiClient struct {
	endpoints []endpoint
	timeout   time.Duration
	transport *http.Transport

	mu     sync.Mutex
	active int
}

// newAPIClient returns a client speaking the gRPC protocol over HTTPS
// (HTTP/2 by ALPN) with tlsCfg, which carries the CA to trust and the client
// certificate. It sends no message larger than a node reads
// (maxRequestBytes). Close releases its connections.
func newAPIClient(addrs []string, timeout time.Duration, tlsCfg *tls.Config) *apiClient {
	dialTimeout := min(timeout, 5*time.Second)
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
		IdleConnTimeout:     time.Minute,
	}
	hc := &http.Client{Transport: tr}
	c := &apiClient{timeout: timeout, transport: tr}
	opts := connect.WithClientOptions(connect.WithGRPC(), connect.WithSendMaxBytes(maxRequestBytes))
	for _, a := range addrs {
		base := "https://" + a
		c.endpoints = append(c.endpoints, endpoint{
			addr:     a,
			cluster:  clusterv1connect.NewClusterServiceClient(hc, base, opts),
			machine:  machinev1connect.NewMachineServiceClient(hc, base, opts),
			security: securityv1connect.NewSecurityServiceClient(hc, base, opts),
			resource: resourcev1connect.NewResourceServiceClient(hc, base, opts),
			service:  servicev1connect.NewServiceServiceClient(hc, base, opts),
			// The cluster-plane resources (ClusterResourceService).
			clusterResource: clusterv1connect.NewClusterResourceServiceClient(hc, base, opts),
		})
	}
	return c
}

// Close closes idle connections.
func (c *apiClient) Close() { c.transport.CloseIdleConnections() }

// call runs fn, each attempt bounded by the request timeout, against the
// endpoints in order starting with the last one that answered. It moves to
// the next endpoint only when the call fails with Unavailable (the endpoint
// is down, or knows no leader yet); any other outcome is final.
func (c *apiClient) call(ctx context.Context, fn func(ctx context.Context, ep endpoint) error) error {
	c.mu.Lock()
	start := c.active
	c.mu.Unlock()
	var errs []error
	for i := range c.endpoints {
		idx := (start + i) % len(c.endpoints)
		ep := c.endpoints[idx]
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := fn(cctx, ep)
		cancel()
		if err == nil || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil {
			c.mu.Lock()
			c.active = idx
			c.mu.Unlock()
			return err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", c.endpoints[(start+i)%len(c.endpoints)].addr, err)
	}
	return &endpointsError{errs: errs}
}

// endpointsError is returned when every endpoint failed with Unavailable.
type endpointsError struct{ errs []error }

func (e *endpointsError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return "no endpoint answered: " + strings.Join(msgs, "; ")
}

// Unwrap returns every endpoint's error, so errors.As finds their details.
func (e *endpointsError) Unwrap() []error { return e.errs }

// request wraps msg in a Connect request addressed to node (through the
// endpoint) unless node is empty.
func request[T any](msg *T, node string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if node != "" {
		r.Header().Set(headerNode, node)
	}
	return r
}

// nodeResult is one node's answer to a fanned-out call.
type nodeResult[T any] struct {
	node string
	val  T
	err  error
}

// fanOut calls fn once per node, concurrently, and returns the answers in
// the order of nodes. With no nodes it calls fn once for the endpoint
// itself, with an empty node name.
func fanOut[T any](ctx context.Context, c *apiClient, nodes []string,
	fn func(ctx context.Context, ep endpoint, node string) (T, error),
) []nodeResult[T] {
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	out := make([]nodeResult[T], len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			out[i].node = n
			out[i].err = c.call(ctx, func(ctx context.Context, ep endpoint) error {
				v, err := fn(ctx, ep, n)
				out[i].val = v
				return err
			})
		})
	}
	wg.Wait()
	return out
}

// endpointError returns the error of a call made to the endpoint itself
// (no --nodes), which leaves nothing to print.
func endpointError[T any](results []nodeResult[T]) error {
	if len(results) == 1 && results[0].node == "" {
		return results[0].err
	}
	return nil
}

// nodeErrors writes each failed node's error to w and returns ErrNodeFailed
// if any failed.
func nodeErrors[T any](w io.Writer, results []nodeResult[T]) error {
	if err := endpointError(results); err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			fmt.Fprintf(w, "%s: %v\n", r.node, r.err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrNodeFailed, failed, len(results))
	}
	return nil
}

// client resolves the target and opens a client for it.
func (g *globals) client() (*apiClient, target, error) { return g.clientTimeout(g.timeout) }

// clientTimeout is client with another per-call timeout.
func (g *globals) clientTimeout(timeout time.Duration) (*apiClient, target, error) {
	t, err := g.target()
	if err != nil {
		return nil, target{}, err
	}
	tlsCfg, err := t.tlsConfig()
	if err != nil {
		return nil, target{}, err
	}
	return newAPIClient(t.endpoints, timeout, tlsCfg), t, nil
}
