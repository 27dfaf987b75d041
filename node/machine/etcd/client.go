package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

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

// DialTimeout bounds how long New waits for a first connection; etcd's
// client otherwise retries quietly for as long as the call's context lasts.
const DialTimeout = 5 * time.Second

// New returns an etcd client for endpoints (https://host:2379) over tlsConf.
// Its own logging is off: callers log what matters with their logger. The
// caller closes it.
func New(endpoints []string, tlsConf *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tlsConf,
		DialTimeout: DialTimeout,
		Logger:      zap.NewNop(),
		// A member that does not answer (stopped, partitioned) must not hold a
		// call on it forever: keepalives find a dead connection.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}
