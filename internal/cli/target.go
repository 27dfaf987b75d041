package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// target is what a command talks to, resolved from flags and client config.
type target struct {
	// endpoints are host:port, tried in order.
	endpoints []string
	// nodes are the names to ask through the endpoint; empty means "the
	// endpoint itself".
	nodes []string
	// context is the selected context, which holds the client identity;
	// nil when none is selected (only --endpoints was given).
	context *Context
	// contextName and path name the context and its file, for errors.
	contextName, path string
}

// tlsConfig returns the TLS client configuration of the target's context,
// or an error saying how to get a client certificate.
func (t target) tlsConfig() (*tls.Config, error) {
	if t.context == nil {
		return nil, fmt.Errorf("%w: no context is selected in %s; the node API needs one with a client certificate: "+
			"create a cluster with 'cairnctl cluster create', or use the cairnconfig of 'cairnctl gen config' or 'cairnctl config new'",
			ErrNoClientCert, t.path)
	}
	cfg, err := t.context.tlsConfig(time.Now())
	if errors.Is(err, ErrNoClientCert) {
		return nil, fmt.Errorf("%w in context %q of %s: the node API requires one; "+
			"regenerate the cairnconfig with 'cairnctl gen config', or ask an admin for one with 'cairnctl config new'",
			err, t.contextName, t.path)
	}
	if err != nil {
		return nil, fmt.Errorf("context %q of %s: %w", t.contextName, t.path, err)
	}
	return cfg, nil
}

// clientConfigPath returns the client config file the global flags select.
func (g *globals) clientConfigPath() (string, error) {
	if g.cairnconfig != "" {
		return g.cairnconfig, nil
	}
	return defaultClientConfigPath()
}

// loadClientConfig reads the selected client config file.
func (g *globals) loadClientConfig() (*ClientConfig, string, error) {
	path, err := g.clientConfigPath()
	if err != nil {
		return nil, "", err
	}
	cfg, err := ReadClientConfig(path)
	return cfg, path, err
}

// target resolves endpoints and nodes: flags first, then the selected
// context of the client config.
func (g *globals) target() (target, error) {
	cfg, path, err := g.loadClientConfig()
	if err != nil {
		return target{}, err
	}
	return resolveTarget(cfg, path, g.context, g.endpoints, g.nodes)
}

// resolveTarget applies the precedence rules: --endpoints and --nodes
// override the context's lists; --context overrides the current context.
func resolveTarget(cfg *ClientConfig, path, contextName string, endpoints, nodes []string) (target, error) {
	ctx, name, err := cfg.Selected(contextName)
	if err != nil {
		return target{}, fmt.Errorf("%s: %w", path, err)
	}
	t := target{context: ctx, contextName: name, path: path}
	t.endpoints, t.nodes = cleanList(endpoints), cleanList(nodes)
	if ctx != nil {
		if len(t.endpoints) == 0 {
			t.endpoints = cleanList(ctx.Endpoints)
		}
		if len(t.nodes) == 0 {
			t.nodes = cleanList(ctx.Nodes)
		}
	}
	if len(t.endpoints) == 0 {
		where := "no context is selected in " + path
		if name != "" {
			where = fmt.Sprintf("context %q in %s has none", name, path)
		}
		return target{}, fmt.Errorf("%w: pass --endpoints, or create a cluster with 'cairnctl cluster create' (%s)", ErrNoEndpoints, where)
	}
	for i, e := range t.endpoints {
		t.endpoints[i] = withDefaultPort(e)
	}
	return t, nil
}

// cleanList drops empty and duplicate entries, keeping order.
func cleanList(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// withDefaultPort adds the default API port to an endpoint given without
// one; IPv6 literals may come with or without brackets.
func withDefaultPort(ep string) string {
	if _, _, err := net.SplitHostPort(ep); err == nil {
		return ep
	}
	host := strings.TrimSuffix(strings.TrimPrefix(ep, "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(config.DefaultAPIPort))
}
