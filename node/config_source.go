package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/controllers"
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
	apiAddr string
	tls     *tls.Config // this node's client identity
	// self is this node's name: a config that does not list it is not
	// published (its network and services must stay up while it leaves),
	// but NodeListed says so, for the removal controller.
	self string
	last uint64 // the revision published last, across sessions
}

// Name implements runtime.Source.
func (a *configSource) Name() string { return "config-source" }

// Outputs implements runtime.Source.
func (a *configSource) Outputs() []string {
	return []string{controllers.TypeClusterConfig, controllers.TypeNodeListed}
}

// Run implements runtime.Source: one watch session, until the stream ends.
// The end of a stream is a failure the runtime retries with backoff (the
// API restarting, a leader change on a worker's upstream); the first
// message of the next session is the current config, so nothing is missed.
func (a *configSource) Run(ctx context.Context, w runtime.Writer) error {
	tr := &http.Transport{TLSClientConfig: a.tls, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := clusterv1connect.NewClusterServiceClient(&http.Client{Transport: tr}, "https://"+a.apiAddr)
	stream, err := client.WatchConfig(ctx, connect.NewRequest(&clusterv1.WatchConfigRequest{FromRevision: 0}))
	if err != nil {
		return fmt.Errorf("watch cluster config: %w", err)
	}
	defer stream.Close()
	for stream.Receive() {
		rev := stream.Msg().Revision
		if rev == a.last {
			continue
		}
		if err := a.publish(w, rev, stream.Msg().Config); err != nil {
			a.log.Error("publish cluster config", "revision", rev, "error", err)
			continue
		}
		a.log.Info("cluster config received", "revision", rev)
		a.last = rev
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := stream.Err(); err != nil {
		return fmt.Errorf("cluster config watch ended: %w", err)
	}
	return errors.New("cluster config watch ended")
}

// publish parses a received (redacted) config and writes it to the state.
func (a *configSource) publish(w runtime.Writer, rev uint64, doc string) error {
	c, err := config.Parse([]byte(doc))
	if err != nil {
		return fmt.Errorf("parse config at revision %d: %w", rev, err)
	}
	listed := slices.ContainsFunc(c.Nodes, func(n config.Node) bool { return n.Name == a.self })
	if err := w.Put(controllers.TypeNodeListed, controllers.IDSelf, controllers.NodeListedSpec{Revision: rev, Listed: listed}, nil); err != nil {
		return err
	}
	if !listed {
		return nil
	}
	return w.Put(controllers.TypeClusterConfig, controllers.IDCluster, controllers.ClusterConfigSpec{Revision: rev, Config: c}, nil)
}
