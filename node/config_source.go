package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/config"
	"github.com/cairn-project/cairn/node/controllers"
	"github.com/cairn-project/cairn/node/runtime"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// configSource follows the cluster config and writes it, with its
// revision, into the node's local state as ClusterConfig/cluster: the input
// of every controller that acts on the config (network, and later etcd and
// kubelet), and of ConfigStatus, which reports the applied revision.
//
// It watches through this node's own API, which serves a control plane's
// watch from its replica and proxies a worker's from the leader, so both
// roles share one code path.
type configSource struct {
	log     *slog.Logger
	state   *runtime.State
	apiAddr string
	tls     *tls.Config // this node's client identity
	// self is this node's name; removed is called (once per revision) with
	// a revision whose config does not list it.
	self    string
	removed func(rev uint64)
}

func (a *configSource) run(ctx context.Context) {
	log := a.log.With("component", "config-source")
	tr := &http.Transport{TLSClientConfig: a.tls, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := clusterv1connect.NewClusterServiceClient(&http.Client{Transport: tr}, "https://"+a.apiAddr)
	backoff := 100 * time.Millisecond
	var last uint64
	for ctx.Err() == nil {
		stream, err := client.WatchConfig(ctx, connect.NewRequest(&clusterv1.WatchConfigRequest{FromRevision: 0}))
		if err == nil {
			for stream.Receive() {
				rev := stream.Msg().Revision
				if rev == last {
					continue
				}
				if err := a.publish(rev, stream.Msg().Config); err != nil {
					log.Error("publish cluster config", "revision", rev, "error", err)
					continue
				}
				log.Info("cluster config received", "revision", rev)
				last = rev
				backoff = 100 * time.Millisecond
			}
			err = stream.Err()
			_ = stream.Close()
		}
		if ctx.Err() != nil {
			return
		}
		log.Debug("config watch ended; retrying", "error", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// publish parses a received (redacted) config and writes it to the state.
func (a *configSource) publish(rev uint64, doc string) error {
	c, err := config.Parse([]byte(doc))
	if err != nil {
		return fmt.Errorf("parse config at revision %d: %w", rev, err)
	}
	if a.removed != nil && !slices.ContainsFunc(c.Nodes, func(n config.Node) bool { return n.Name == a.self }) {
		a.removed(rev)
		return nil
	}
	_, err = a.state.Put(runtime.Resource{
		Type: controllers.TypeClusterConfig, ID: controllers.IDCluster,
		Spec: controllers.ClusterConfigSpec{Revision: rev, Config: c},
	})
	return err
}
