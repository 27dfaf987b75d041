package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/cairn-project/cairn/node/config"
)

// target is what a command talks to, resolved from flags and client config.
type target struct {
	// endpoints are host:port, tried in order.
	endpoints []string
	// nodes are the names to ask through the endpoint; empty means "the
	// endpoint itself".
	nodes []string
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
	var t target
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
