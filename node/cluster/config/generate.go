package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Defaults used by Generate.
const (
	// DefaultKubernetesVersion is the Kubernetes version Generate writes when
	// none is given.
	DefaultKubernetesVersion = "1.37.2"
	// DefaultPodCIDR is the pod network Generate writes.
	DefaultPodCIDR = "10.244.0.0/16"
	// DefaultServiceCIDR is the service network Generate writes.
	DefaultServiceCIDR = "10.96.0.0/12"
	// DefaultDNSDomain is the cluster DNS domain Generate writes.
	DefaultDNSDomain = "cluster.local"
)

// maxLoopbackNodes is how many nodes fit in one 127.0.X.0/24 plan (.1–.254).
const maxLoopbackNodes = 254

// GenerateOptions describes the cluster Generate writes.
type GenerateOptions struct {
	// ClusterName is the cluster's name, a DNS-1123 label. Required.
	ClusterName string
	// ControlPlanes is the number of control-plane nodes, at least 1. All of
	// them are expected to bootstrap Raft together.
	ControlPlanes int
	// Workers is the number of worker nodes.
	Workers int
	// KubernetesVersion defaults to DefaultKubernetesVersion.
	KubernetesVersion string
	// LoopbackSubnet is X in the local address plan: node i (control planes
	// first, counting from 1) gets 127.0.X.i and the default ports. Use a
	// different X for each local cluster on one machine. Defaults to 1.
	LoopbackSubnet int
	// Secrets, when set, are reused instead of generated (cairnctl gen config
	// --with-secrets), so a regenerated file still belongs to the same cluster.
	// Secrets without an etcd CA, a Kubernetes CA, a front-proxy CA or a
	// service account key (from before they existed) get new ones.
	Secrets *Secrets
	// KubernetesDisabled sets cluster.kubernetes.disabled: the nodes run
	// no Kubernetes component (etcd still runs).
	KubernetesDisabled bool
	// KubernetesEndpoint sets cluster.kubernetes.endpoint (the admin
	// kubeconfig's server, named in every apiserver certificate): the
	// docker provisioner's published 127.0.N.1:6443, which the host
	// reaches.
	KubernetesEndpoint string
	// ClusterID, when set, is reused instead of generated, for the same reason.
	ClusterID string
	// Rand is the source of the cluster ID, gossip key, join token and
	// certificate serial numbers; crypto/rand.Reader when nil. Private keys
	// always come from the runtime's secure source (Go 1.26 ignores custom
	// readers for key generation).
	Rand io.Reader
	// Now is the CA's start of validity; time.Now() when zero.
	Now time.Time
	// NodeHosts, when set, holds one IP address per node, in node order:
	// node i's API, gossip and Raft addresses are on it (default ports)
	// instead of a loopback address. For nodes in containers or VMs, whose
	// network is not the host's loopback. The generator declares no link
	// or address for it: the container runtime or hypervisor assigns it
	// and may rename the interface (Docker does on a reconnect), so the
	// node must not own it.
	NodeHosts []string
	// NodeAddresses, when set, holds one address with prefix length per
	// node (such as 10.20.0.2/24), in node order: node i then has it on
	// NodeLink (network.links and network.addresses) instead of a
	// loopback address, and its API, gossip and Raft endpoints follow it
	// (apiAddress, gossipAddress and raftAddress are left out). For nodes
	// in containers or VMs, whose network is not the host's loopback.
	NodeAddresses []string
	// NodeLink is the link NodeAddresses are on; eth0 when empty.
	NodeLink string
	// NodeLinkUp sets NodeLink up (links[].up), for machines whose links
	// start down, such as VMs; a container's link is up already.
	NodeLinkUp bool
	// StateDisk, when set, is every node's state disk path (stateDisk.path),
	// such as /dev/vda in a VM.
	StateDisk string
	// CertSANs, when set, holds extra certificate names per node, in node
	// order (certSANs): the host-side address a published port or a host
	// forward reaches the node's API on.
	CertSANs [][]string
}

// Generate writes a complete, valid cluster configuration for a local cluster
// on loopback addresses, with fresh secrets and cluster ID unless opts supplies
// them. Control-plane nodes are named cp1…cpN and workers worker1…workerM. The
// result passes Validate; if opts makes that impossible (a bad name, reused
// secrets that are invalid) Generate returns the validation error.
func Generate(opts GenerateOptions) (*Config, error) {
	r := orCryptoRand(opts.Rand)
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	subnet := opts.LoopbackSubnet
	if subnet == 0 {
		subnet = 1
	}
	total := opts.ControlPlanes + opts.Workers
	switch {
	case opts.ControlPlanes < 1:
		return nil, fmt.Errorf("generate: %w: at least one control-plane node is required, got %d", ErrBadOptions, opts.ControlPlanes)
	case opts.Workers < 0:
		return nil, fmt.Errorf("generate: %w: negative worker count %d", ErrBadOptions, opts.Workers)
	case total > maxLoopbackNodes:
		return nil, fmt.Errorf("generate: %w: %d nodes do not fit the loopback plan (at most %d)", ErrBadOptions, total, maxLoopbackNodes)
	case subnet < 0 || subnet > 255:
		return nil, fmt.Errorf("generate: %w: loopback subnet %d is not 0..255", ErrBadOptions, subnet)
	case opts.NodeHosts != nil && len(opts.NodeHosts) != total:
		return nil, fmt.Errorf("generate: %w: %d node hosts for %d nodes", ErrBadOptions, len(opts.NodeHosts), total)
	case len(opts.CertSANs) > total:
		return nil, fmt.Errorf("generate: %w: certificate SANs for %d nodes, there are %d", ErrBadOptions, len(opts.CertSANs), total)
	}

	c := &Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Cluster: Cluster{
			Name:         opts.ClusterName,
			ID:           opts.ClusterID,
			ControlPlane: ControlPlane{Expect: opts.ControlPlanes},
			Network:      ClusterNetwork{PodCIDR: DefaultPodCIDR, ServiceCIDR: DefaultServiceCIDR, DNSDomain: DefaultDNSDomain},
			Kubernetes:   Kubernetes{Version: opts.KubernetesVersion, Disabled: opts.KubernetesDisabled, Endpoint: opts.KubernetesEndpoint},
		},
	}
	if c.Cluster.Kubernetes.Version == "" {
		c.Cluster.Kubernetes.Version = DefaultKubernetesVersion
	}
	if c.Cluster.ID == "" {
		id, err := NewClusterID(r)
		if err != nil {
			return nil, err
		}
		c.Cluster.ID = id
	}
	if opts.Secrets != nil {
		c.Secrets = *opts.Secrets
		// Secrets from before the etcd CA or the Kubernetes secrets
		// existed get them, so regenerating from them is a way to add them.
		if err := addMissingSecrets(&c.Secrets, r, opts.ClusterName, now); err != nil {
			return nil, err
		}
	} else {
		s, err := NewSecrets(r, opts.ClusterName, now)
		if err != nil {
			return nil, err
		}
		c.Secrets = s
	}

	for i := range opts.ControlPlanes + opts.Workers {
		n := Node{Name: "cp" + strconv.Itoa(i+1), Role: RoleControlPlane}
		if i >= opts.ControlPlanes {
			n = Node{Name: "worker" + strconv.Itoa(i-opts.ControlPlanes+1), Role: RoleWorker}
		}
		n.Match = Match{Name: n.Name}
		if opts.NodeAddresses != nil {
			link := opts.NodeLink
			if link == "" {
				link = "eth0"
			}
			n.Network.Links = []Link{{Name: link, Up: opts.NodeLinkUp}}
			n.Network.Addresses = []Address{{Link: link, CIDR: opts.NodeAddresses[i]}}
		} else {
			host := fmt.Sprintf("127.0.%d.%d", subnet, i+1)
			if opts.NodeHosts != nil {
				host = opts.NodeHosts[i]
			}
			n.APIAddress = net.JoinHostPort(host, strconv.Itoa(DefaultAPIPort))
			n.GossipAddress = net.JoinHostPort(host, strconv.Itoa(DefaultGossipPort))
			if n.Role == RoleControlPlane {
				n.RaftAddress = net.JoinHostPort(host, strconv.Itoa(DefaultRaftPort))
			}
		}
		if opts.StateDisk != "" {
			n.StateDisk = StateDisk{Path: opts.StateDisk}
		}
		if i < len(opts.CertSANs) {
			n.CertSANs = append([]string(nil), opts.CertSANs[i]...)
		}
		if n.Role == RoleControlPlane {
			c.Cluster.Seeds = append(c.Cluster.Seeds, n.GossipEndpoint())
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return c, nil
}

// addMissingSecrets generates the CAs and the service account key that s
// lacks, leaving the others as they are.
func addMissingSecrets(s *Secrets, r io.Reader, clusterName string, now time.Time) error {
	for _, ca := range []struct {
		pair *CertKeyPair
		gen  func(io.Reader, string, time.Time) (CertKeyPair, error)
	}{{&s.EtcdCA, NewEtcdCA}, {&s.KubernetesCA, NewKubernetesCA}, {&s.FrontProxyCA, NewFrontProxyCA}} {
		if *ca.pair != (CertKeyPair{}) {
			continue
		}
		pair, err := ca.gen(r, clusterName, now)
		if err != nil {
			return err
		}
		*ca.pair = pair
	}
	if s.ServiceAccountKey == "" {
		key, err := NewServiceAccountKey(r)
		if err != nil {
			return err
		}
		s.ServiceAccountKey = key
	}
	return nil
}

// NewClusterID returns 16 random bytes from r (crypto/rand when nil) as
// lowercase hex.
func NewClusterID(r io.Reader) (string, error) {
	r = orCryptoRand(r)
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generate cluster id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewSecrets generates a cluster's secrets from r: a 32-byte gossip key, a join
// token, four ECDSA P-256 CAs (the cluster's, etcd's, Kubernetes' and the
// front proxy's) valid from now for CAValidity, and an ECDSA P-256 service
// account key. A nil r means crypto/rand.
func NewSecrets(r io.Reader, clusterName string, now time.Time) (Secrets, error) {
	r = orCryptoRand(r)
	var key [gossipKeyBytes]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return Secrets{}, fmt.Errorf("generate gossip key: %w", err)
	}
	token, err := NewJoinToken(r)
	if err != nil {
		return Secrets{}, err
	}
	ca, err := NewCA(r, clusterName, now)
	if err != nil {
		return Secrets{}, err
	}
	s := Secrets{GossipKey: base64.StdEncoding.EncodeToString(key[:]), JoinToken: token, CA: ca}
	if err := addMissingSecrets(&s, r, clusterName, now); err != nil {
		return Secrets{}, err
	}
	return s, nil
}

// NewJoinToken returns a token of the form abcdef.0123456789abcdef drawn
// uniformly from lowercase letters and digits read from r (crypto/rand when
// nil).
func NewJoinToken(r io.Reader) (string, error) {
	r = orCryptoRand(r)
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	// Bytes at or above the largest multiple of len(alphabet) are rejected so
	// every character is equally likely.
	const limit = 256 - 256%len(alphabet)
	out := make([]byte, 0, 23)
	var buf [32]byte
	for len(out) < 22 {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("generate join token: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < 22 {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out[:6]) + "." + string(out[6:]), nil
}

func orCryptoRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
