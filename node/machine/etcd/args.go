package etcd

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

// The ports of every etcd member, on the node's own address (DESIGN.md of
// the repository: client 2379, peer 2380).
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// Initial cluster states (etcd's --initial-cluster-state).
const (
	StateNew      = "new"
	StateExisting = "existing"
)

// Peer is one member in etcd's --initial-cluster: name=peerURL.
type Peer struct {
	Name    string
	PeerURL string
}

// Layout is where one member's files live under its directory (the node's
// state directory's etcd/): data/ is etcd's --data-dir, pki/ the TLS files.
type Layout struct {
	Dir string
}

// DataDir is etcd's --data-dir.
func (l Layout) DataDir() string { return filepath.Join(l.Dir, "data") }

// PKIDir holds the member's certificates and keys (WriteCerts).
func (l Layout) PKIDir() string { return filepath.Join(l.Dir, "pki") }

// File returns the path of a file in PKIDir: ca.crt, peer.crt, peer.key,
// server.crt, server.key, client.crt, client.key.
func (l Layout) File(name string) string { return filepath.Join(l.PKIDir(), name) }

// Member is everything one etcd member is started with.
type Member struct {
	Name   string
	Layout Layout
	// IP is the member's own address: it listens and advertises there.
	IP string
	// ClientPort and PeerPort default to 2379 and 2380 (tests pick free
	// ones).
	ClientPort, PeerPort int
	// InitialCluster lists every member, this one included, as etcd must
	// see them to start or join: for StateNew the members named by the
	// bootstrap record, for StateExisting the list MemberAddAsLearner
	// returned. etcd ignores it once its data directory holds a member.
	InitialCluster []Peer
	State          string
	Token          string
	// ExtraArgs are added as --KEY=VALUE, sorted by key; they may not
	// override the flags Args sets itself.
	ExtraArgs map[string]string
}

func (m Member) ports() (client, peer int) {
	client, peer = m.ClientPort, m.PeerPort
	if client == 0 {
		client = ClientPort
	}
	if peer == 0 {
		peer = PeerPort
	}
	return client, peer
}

// PeerURL is the member's advertised (and listened) peer URL.
func (m Member) PeerURL() string {
	_, p := m.ports()
	return HTTPSURL(m.IP, p)
}

// ClientURL is the member's advertised (and listened) client URL.
func (m Member) ClientURL() string {
	c, _ := m.ports()
	return HTTPSURL(m.IP, c)
}

// HTTPSURL is https://ip:port, with an IPv6 address bracketed.
func HTTPSURL(ip string, port int) string {
	return (&url.URL{Scheme: "https", Host: net.JoinHostPort(ip, strconv.Itoa(port))}).String()
}

// Reserved reports whether flag (without dashes) is one Args sets itself
// (config.EtcdReservedFlags, which the config's validation refuses too).
func Reserved(flag string) bool { return slices.Contains(config.EtcdReservedFlags, flag) }

// Args returns etcd's command line. Every URL is https and both ports
// demand a certificate from the etcd CA (client-cert-auth,
// peer-client-cert-auth): there is no plaintext port, and a client or
// peer without such a certificate is refused.
func (m Member) Args() ([]string, error) {
	if m.Name == "" || m.IP == "" || m.Layout.Dir == "" {
		return nil, fmt.Errorf("%w: member needs a name, an IP and a directory", ErrInvalidMember)
	}
	if m.State != StateNew && m.State != StateExisting {
		return nil, fmt.Errorf("%w: initial cluster state %q is not %s or %s", ErrInvalidMember, m.State, StateNew, StateExisting)
	}
	if m.Token == "" {
		return nil, fmt.Errorf("%w: no cluster token", ErrInvalidMember)
	}
	var initial []string
	self := false
	for _, p := range m.InitialCluster {
		initial = append(initial, p.Name+"="+p.PeerURL)
		self = self || (p.Name == m.Name && p.PeerURL == m.PeerURL())
	}
	if !self {
		return nil, fmt.Errorf("%w: initial cluster %v does not name %s at %s", ErrInvalidMember, initial, m.Name, m.PeerURL())
	}
	l := m.Layout
	args := []string{
		"--name=" + m.Name,
		"--data-dir=" + l.DataDir(),
		"--listen-peer-urls=" + m.PeerURL(),
		"--initial-advertise-peer-urls=" + m.PeerURL(),
		"--listen-client-urls=" + m.ClientURL(),
		"--advertise-client-urls=" + m.ClientURL(),
		"--initial-cluster=" + strings.Join(initial, ","),
		"--initial-cluster-state=" + m.State,
		"--initial-cluster-token=" + m.Token,
		"--client-cert-auth=true",
		"--trusted-ca-file=" + l.File("ca.crt"),
		"--cert-file=" + l.File("server.crt"),
		"--key-file=" + l.File("server.key"),
		// The server certificate is for serving only; etcd's own
		// connections to its client port (the gRPC gateway) present this
		// one instead.
		"--client-cert-file=" + l.File("client.crt"),
		"--client-key-file=" + l.File("client.key"),
		"--peer-client-cert-auth=true",
		// A peer is told by its certificate's common name, not by the
		// address it dials from: on loopback (process mode) and behind NAT
		// that is not the address its certificate names, and etcd's SAN
		// check would refuse it. Only peer certificates carry this name,
		// so cairnd's and kube-apiserver's client certificates from the
		// same CA cannot act as members.
		"--peer-cert-allowed-cn=" + pki.EtcdPeerCommonName,
		"--peer-skip-client-san-verification=true",
		"--peer-trusted-ca-file=" + l.File("ca.crt"),
		"--peer-cert-file=" + l.File("peer.crt"),
		"--peer-key-file=" + l.File("peer.key"),
		// Old revisions go after five minutes, as on Talos and kubeadm
		// clusters, so the database does not grow without bound.
		"--auto-compaction-mode=periodic",
		"--auto-compaction-retention=5m",
	}
	for _, k := range slices.Sorted(maps.Keys(m.ExtraArgs)) {
		key := strings.TrimLeft(k, "-")
		if Reserved(key) {
			return nil, fmt.Errorf("%w: extra argument %q would replace a flag Cairn sets", ErrInvalidMember, k)
		}
		args = append(args, "--"+key+"="+m.ExtraArgs[k])
	}
	return args, nil
}
