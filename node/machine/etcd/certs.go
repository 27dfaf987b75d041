package etcd

import (
	"crypto/tls"
	"fmt"
	"os"
	"time"

	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

// WriteCerts makes sure the member's certificates in l.PKIDir() are valid
// for node n at now: the etcd CA's certificate (ca.crt), the peer and server
// certificates for n's names and IPs, and cairnd's client certificate
// (client.crt), which etcd's own gateway presents too. A pair is issued
// again, by this control plane from the etcd CA, when it is missing, not
// from this CA, due for renewal (two thirds of its life) or for other names
// or IPs than n has now. Files are replaced atomically; etcd reads them
// at every handshake, so a renewal needs no restart. It reports whether it
// wrote anything.
func WriteCerts(l Layout, etcdCA config.CertKeyPair, n *config.Node, now time.Time) (bool, error) {
	if err := os.MkdirAll(l.PKIDir(), 0o700); err != nil {
		return false, fmt.Errorf("create etcd pki dir: %w", err)
	}
	changed, err := atomicfile.WriteIfDifferent(l.File("ca.crt"), []byte(etcdCA.Crt), 0o644)
	if err != nil {
		return false, err
	}
	for _, p := range []struct {
		name  string
		stale func(crt string) bool
		issue func() (config.CertKeyPair, error)
	}{
		{"peer", func(crt string) bool { return pki.EtcdNeedsReissue(etcdCA, crt, n, now) },
			func() (config.CertKeyPair, error) { return pki.IssueEtcdPeer(etcdCA, n, now) }},
		{"server", func(crt string) bool { return pki.EtcdNeedsReissue(etcdCA, crt, n, now) },
			func() (config.CertKeyPair, error) { return pki.IssueEtcdServer(etcdCA, n, now) }},
		{"client", func(crt string) bool { return pki.EtcdClientNeedsReissue(etcdCA, crt, now) },
			func() (config.CertKeyPair, error) {
				return pki.IssueEtcdClient(etcdCA, pki.EtcdClientCairnd, now)
			}},
	} {
		crt, _ := os.ReadFile(l.File(p.name + ".crt"))
		_, keyErr := os.Stat(l.File(p.name + ".key"))
		if crt != nil && keyErr == nil && !p.stale(string(crt)) {
			continue
		}
		pair, err := p.issue()
		if err != nil {
			return changed, fmt.Errorf("issue etcd %s certificate: %w", p.name, err)
		}
		// The key first: a crash between the two leaves a new key with an
		// old certificate, which the next call finds not matching and
		// issues again.
		if err := atomicfile.Write(l.File(p.name+".key"), []byte(pair.Key), 0o600); err != nil {
			return changed, err
		}
		if err := atomicfile.Write(l.File(p.name+".crt"), []byte(pair.Crt), 0o644); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// LoadClientTLS reads cairnd's etcd client certificate and the CA from l,
// as WriteCerts left them.
func LoadClientTLS(l Layout) (*tls.Config, error) {
	ca, err := os.ReadFile(l.File("ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("etcd CA certificate: %w", err)
	}
	crt, err := os.ReadFile(l.File("client.crt"))
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	key, err := os.ReadFile(l.File("client.key"))
	if err != nil {
		return nil, fmt.Errorf("etcd client key: %w", err)
	}
	return ClientTLS(string(ca), config.CertKeyPair{Crt: string(crt), Key: string(key)})
}
