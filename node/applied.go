package node

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/formation"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// appliedConfig is the controller that follows the cluster config and
// records the revision this node has applied (shown by Members, through
// gossip metadata). It is where network, etcd and kubelet reconciliation
// hook in: each revision is handed to them before it counts as applied.
//
// It watches through this node's own API, which serves a control plane's
// watch from its replica and proxies a worker's from the leader, so both
// roles share one code path.
type appliedConfig struct {
	log     *slog.Logger
	agent   *formation.Agent
	apiAddr string
}

func (a *appliedConfig) run(ctx context.Context) {
	log := a.log.With("controller", "applied-config")
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := clusterv1connect.NewClusterServiceClient(&http.Client{Transport: tr}, "http://"+a.apiAddr)
	backoff := 100 * time.Millisecond
	var last uint64
	for ctx.Err() == nil {
		stream, err := client.WatchConfig(ctx, connect.NewRequest(&clusterv1.WatchConfigRequest{FromRevision: 0}))
		if err == nil {
			for stream.Receive() {
				rev := stream.Msg().Revision
				if rev != last {
					log.Info("cluster config applied", "revision", rev)
					last = rev
				}
				a.agent.SetConfigRevision(rev)
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
