package config

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Hostname returns the hostname Cairn sets on the node: network.hostname, or
// the node's name when that is empty.
func (n *Node) Hostname() string {
	if n.Network.Hostname != "" {
		return n.Network.Hostname
	}
	return n.Name
}

// MatchName returns the machine name that selects this entry: match.name, or
// the node's name when that is empty.
func (n *Node) MatchName() string {
	if n.Match.Name != "" {
		return n.Match.Name
	}
	return n.Name
}

// APIEndpoint returns the host:port of the node's API: apiAddress, or the first
// static address with port 6440. It is empty only for an invalid node.
func (n *Node) APIEndpoint() string {
	return n.endpoint(n.APIAddress, DefaultAPIPort)
}

// GossipEndpoint returns the host:port the node gossips on: gossipAddress, or
// the first static address with port 6441. It is empty only for an invalid node.
func (n *Node) GossipEndpoint() string {
	return n.endpoint(n.GossipAddress, DefaultGossipPort)
}

// RaftEndpoint returns the host:port of the node's Raft transport: raftAddress,
// or the first static address with port 6442. It is empty for workers, which
// are never Raft members.
func (n *Node) RaftEndpoint() string {
	if n.Role != RoleControlPlane {
		return ""
	}
	return n.endpoint(n.RaftAddress, DefaultRaftPort)
}

func (n *Node) endpoint(explicit string, port int) string {
	if explicit != "" {
		return explicit
	}
	ip, ok := n.primaryIP()
	if !ok {
		return ""
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// primaryIP is the IP of the first static address, which supplies every
// omitted endpoint.
func (n *Node) primaryIP() (netip.Addr, bool) {
	if len(n.Network.Addresses) == 0 {
		return netip.Addr{}, false
	}
	pfx, err := netip.ParsePrefix(n.Network.Addresses[0].CIDR)
	if err != nil {
		return netip.Addr{}, false
	}
	return pfx.Addr(), true
}

// ControlPlanes returns the control-plane entries in document order, the order
// every node uses when it computes the initial Raft configuration.
func (c *Config) ControlPlanes() []*Node {
	var out []*Node
	for i := range c.Nodes {
		if c.Nodes[i].Role == RoleControlPlane {
			out = append(out, &c.Nodes[i])
		}
	}
	return out
}

// SeedAddresses returns the gossip seeds a joining node contacts:
// cluster.seeds, or every control-plane node's gossip endpoint when that is empty.
func (c *Config) SeedAddresses() []string {
	if len(c.Cluster.Seeds) > 0 {
		return append([]string(nil), c.Cluster.Seeds...)
	}
	var out []string
	for _, n := range c.ControlPlanes() {
		if ep := n.GossipEndpoint(); ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// EndpointIPs returns the distinct IPs of the node's API, gossip and Raft
// endpoints: the addresses its certificate names and may be issued for.
func (n *Node) EndpointIPs() []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, ep := range []string{n.APIEndpoint(), n.GossipEndpoint(), n.RaftEndpoint()} {
		host, _, err := net.SplitHostPort(ep)
		if ip := net.ParseIP(host); err == nil && ip != nil && !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	return out
}

// CertIPs returns the IPs the node's API certificate names: its endpoint
// IPs, then the IP addresses among certSANs.
func (n *Node) CertIPs() []net.IP {
	out := n.EndpointIPs()
	for _, san := range n.CertSANs {
		if ip := net.ParseIP(san); ip != nil && !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out
}

// CertDNSNames returns the DNS names the node's API certificate names: the
// node's name, then the DNS names among certSANs.
func (n *Node) CertDNSNames() []string {
	out := []string{n.Name}
	for _, san := range n.CertSANs {
		if net.ParseIP(san) == nil && !slices.Contains(out, strings.ToLower(san)) {
			out = append(out, strings.ToLower(san))
		}
	}
	return out
}
