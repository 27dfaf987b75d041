// Package etcdclient makes the etcd clients of both planes — the Raft
// leader's membership coordinator and a control plane's own observer and
// operations — with one set of options. It is a leaf, so that neither plane
// has to reach into the other for it.
package etcdclient

import (
	"crypto/tls"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DialTimeout bounds how long New waits for a first connection; etcd's
// client otherwise retries quietly for as long as the call's context lasts.
const DialTimeout = 5 * time.Second

// New returns an etcd client for endpoints (https://host:2379) over tlsConf.
// Keepalives find a dead connection, so a member that stopped or was cut
// off does not hold a call on it forever; the client's own logging is off
// (callers log what matters with their logger). The caller closes it.
func New(endpoints []string, tlsConf *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsConf,
		DialTimeout:          DialTimeout,
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}
