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
	"github.com/cairn-project/cairn/node/formation"
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

// leaveCluster is what a node does once the config it received no longer
// lists it: a control plane first waits until the leader has removed it
// from Raft (the leader removes one server at a time and never past quorum,
// so control planes dropped together do not stop together and take the
// quorum with them); then the node records that it was removed, announces
// its leave in gossip, and returns ErrRemoved, which stops it.
func leaveCluster(ctx context.Context, log *slog.Logger, dir string, agent *formation.Agent, rev uint64) error {
	log.Warn("this node is not in the cluster config any more; leaving the cluster", "revision", rev)
	if agent.Store != nil {
		if err := awaitRaftRemoval(ctx, log, agent.Store); err != nil {
			return err
		}
	}
	if err := writeFileSync(filepath.Join(dir, removedFile), []byte(strconv.FormatUint(rev, 10)+"\n")); err != nil {
		return fmt.Errorf("record removal: %w", err)
	}
	leaveCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := agent.Gossip().Leave(leaveCtx); err != nil {
		log.Warn("announce leave in gossip", "error", err)
	}
	log.Warn("left the cluster; stopping", "revision", rev)
	return fmt.Errorf("%w at config revision %d", ErrRemoved, rev)
}

// awaitRaftRemoval returns once this server is no longer in the Raft
// configuration it knows, checking as often as Raft heartbeats.
func awaitRaftRemoval(ctx context.Context, log *slog.Logger, s *consensus.Store) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	logged := false
	for {
		servers, err := s.Servers()
		if err == nil && !slices.ContainsFunc(servers, func(sv consensus.Server) bool { return sv.ID == s.NodeID() }) {
			return nil
		}
		if !logged {
			log.Info("waiting for the leader to remove this server from raft")
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
