package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/internal/etcdclient"
	"github.com/cairn-project/cairn/node/cluster/config"
)

// ClientTLS is the TLS configuration of an etcd client: it trusts the etcd
// CA's certificate (caPEM) only and presents client, a certificate from
// that CA (pki.IssueEtcdClient).
func ClientTLS(caPEM string, client config.CertKeyPair) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, fmt.Errorf("etcd CA certificate does not parse")
	}
	return clientTLS(pool, client)
}

func clientTLS(pool *x509.CertPool, client config.CertKeyPair) (*tls.Config, error) {
	pair, err := tls.X509KeyPair([]byte(client.Crt), []byte(client.Key))
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// New returns an etcd client for endpoints over tlsConf, with the options
// of internal/etcdclient. The caller closes it.
func New(endpoints []string, tlsConf *tls.Config) (*clientv3.Client, error) {
	return etcdclient.New(endpoints, tlsConf)
}
