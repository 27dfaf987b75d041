package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
)

// ErrRemoved is returned by Run when the cluster config no longer lists
// this node: it left the cluster and stopped, on purpose. Run returns it
// at start too, for a node that was removed before, until its state
// directory is wiped (then it may join again as a new node).
var ErrRemoved = errors.New("this node was removed from the cluster")

// removedFile marks a state directory whose node was removed.
const removedFile = "removed"

// checkRemoved refuses to start a node that was removed from the cluster:
// its bootstrap file still lists it, but the cluster's config does not.
func checkRemoved(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, removedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", removedFile, err)
	}
	return fmt.Errorf("%w at config revision %s; to join again as a new node, wipe %s", ErrRemoved, strings.TrimSpace(string(data)), dir)
}

// removal is the controller that makes a node the cluster config no
// longer lists leave the cluster. A control plane first waits until the
// leader has removed it from Raft (the leader removes one server at a time
// and never past quorum, so control planes dropped together do not stop
// together and take the quorum with them): until then a pass fails, and the
// runtime retries it with backoff. Then the node records that it was
// removed (so a restart from the bootstrap file, which still lists it,
// refuses), announces its leave in gossip, and calls stop, which ends Run
// with ErrRemoved.
type removal struct {
	log     *slog.Logger
	dir     string
	gossip  leaver
	servers raftServers // nil on a worker
	stop    func(rev uint64)
}

// leaver announces that this node leaves gossip.
type leaver interface {
	Gossip() *gossip.Node
}

// raftServers is the Raft view removal waits on.
type raftServers interface {
	NodeID() string
	Servers() ([]consensus.Server, error)
}

func (c *removal) Name() string { return "node-removal" }

func (c *removal) Inputs() []runtime.Input {
	return []runtime.Input{{Type: controllers.TypeNodeListed, ID: controllers.IDSelf}}
}

func (c *removal) Outputs() []string { return []string{controllers.TypeNodeRemoval} }

// errStillAServer keeps a removed control plane waiting for the leader.
var errStillAServer = errors.New("still a raft server; waiting for the leader to remove it")

func (c *removal) Run(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
	res, err := r.Get(controllers.TypeNodeListed, controllers.IDSelf)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	listed, ok := res.Spec.(controllers.NodeListedSpec)
	if !ok || listed.Listed {
		return nil
	}
	rev := listed.Revision
	if c.servers != nil && c.isServer() {
		c.log.Info("not in the cluster config any more; waiting for the leader to remove this server from raft", "revision", rev)
		if err := w.Put(controllers.TypeNodeRemoval, controllers.IDSelf, controllers.NodeRemovalSpec{
			Revision: rev, State: "waiting for the leader to remove it from raft",
		}, nil); err != nil {
			return err
		}
		return errStillAServer
	}
	if err := writeFileSync(filepath.Join(c.dir, removedFile), []byte(strconv.FormatUint(rev, 10)+"\n")); err != nil {
		return fmt.Errorf("record removal: %w", err)
	}
	leaveCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.gossip.Gossip().Leave(leaveCtx); err != nil {
		c.log.Warn("announce leave in gossip", "error", err)
	}
	c.log.Warn("this node was removed from the cluster and left it; stopping", "revision", rev)
	if err := w.Put(controllers.TypeNodeRemoval, controllers.IDSelf, controllers.NodeRemovalSpec{Revision: rev, State: "left"}, nil); err != nil {
		return err
	}
	c.stop(rev)
	return nil
}

// isServer reports whether this node is in the Raft configuration it knows.
func (c *removal) isServer() bool {
	servers, err := c.servers.Servers()
	if err != nil {
		return true // cannot tell: keep waiting
	}
	return slices.ContainsFunc(servers, func(sv consensus.Server) bool { return sv.ID == c.servers.NodeID() })
}
