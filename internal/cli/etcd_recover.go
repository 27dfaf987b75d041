package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
)

// ErrNoRaftLeader is returned by etcd recover when no control plane knows
// a Raft leader: the recovery is a Raft write, so it needs a Raft quorum.
var ErrNoRaftLeader = errors.New("no raft leader")

// ErrNotRecovered is returned by etcd recover --wait when the control
// planes did not all report a healthy voter of the new generation in time.
var ErrNotRecovered = errors.New("etcd did not recover in time")

// ErrEtcdHealthy is returned by etcd recover without --force while a
// control plane reports a healthy etcd member: etcd has a quorum.
var ErrEtcdHealthy = errors.New("refusing to recover a working etcd cluster")

// recoverChunk is the size of each uploaded piece: well under the node's
// message limit (MaxRequestBytes, 4 MiB and some).
const recoverChunk = 1 << 20

type etcdRecoverOptions struct {
	from        string
	force       bool
	generation  uint64
	wait        bool
	waitTimeout time.Duration
}

func newEtcdRecoverCommand(g *globals) *cobra.Command {
	var o etcdRecoverOptions
	cmd := &cobra.Command{
		Use:   "recover --from FILE",
		Short: "Recover etcd from a snapshot after a majority of its members was lost",
		Long: `Recover the etcd cluster from a snapshot taken with 'cairnctl etcd
snapshot', when a majority of etcd members is lost for good (their disks
are gone, or their data is corrupt) and etcd cannot regain a quorum by
itself. Like 'talosctl bootstrap --recover-from', this is the last resort:
every write made after the snapshot is lost.

Use it only when etcd has no quorum and cannot get one back: a member
whose node is merely down or cut off comes back with its data once the
node is back, and a single lost member is replaced by the Raft leader on
its own (it adds the node again as a learner). Members whose data is gone
refuse to start ("its data is gone" in 'cairnctl get EtcdStatus'); while
a majority of them does, the cluster stays down until it is recovered.

The Raft group of the control planes decides, as for the first bootstrap:
cairnctl finds the Raft leader and uploads FILE to it. The leader checks
that FILE is an etcd snapshot (a bbolt database ending with etcd's
SHA-256), stores it, and writes a new generation of the EtcdBootstrap
record naming itself as the one member. It then restores the snapshot and
starts a new etcd cluster (a new cluster ID, with its revision raised so
that watchers never see it go back); every other control plane sets the
data of the lost cluster aside (kept, not deleted), joins the new one as
a learner and is promoted, one at a time. The Raft group itself must have
a quorum (a majority of control planes up); it does not need their etcd
data.

While any control plane reports a healthy etcd member (its EtcdStatus),
or the leader's own member still follows an etcd leader, the recovery is
refused: it would replace a working cluster's data. --force recovers
anyway. --generation N recovers only if the current generation is still N
(as 'cairnctl get EtcdBootstrap' shows it), so a recovery that raced with
another fails instead of replacing the winner; the default is the current
generation. A refused recovery changes nothing.

With --wait (the default) the command waits until every control plane
reports a healthy voting member of the new generation, showing each one's
phase on a terminal. --nodes is refused: the command finds the leader
itself. Needs os:admin.

With -o json: {"generation", "snapshotSha256", "snapshotSize",
"restoreNode"}.`,
		Example: `  cairnctl etcd snapshot etcd.snapshot             # regularly, while healthy
  cairnctl etcd recover --from etcd.snapshot       # after losing a majority
  cairnctl etcd recover --from etcd.snapshot --generation 1 --wait-timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEtcdRecover(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the etcd snapshot to recover from (from 'cairnctl etcd snapshot')")
	f.BoolVar(&o.force, "force", false, "recover even though etcd still has a quorum: its data is replaced and writes after the snapshot are lost")
	f.Uint64Var(&o.generation, "generation", 0, "recover only if the current EtcdBootstrap generation is this one (0: the current one)")
	f.BoolVar(&o.wait, "wait", true, "wait until every control plane runs a healthy voting member of the new generation")
	f.DurationVar(&o.waitTimeout, "wait-timeout", 5*time.Minute, "how long --wait waits")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagFilename("from")
	return cmd
}

func runEtcdRecover(cmd *cobra.Command, g *globals, o etcdRecoverOptions) error {
	f, err := os.Open(o.from)
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	if info.Size() == 0 {
		return fmt.Errorf("%w: %s", ErrEmptyFile, o.from)
	}
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	if len(t.nodes) > 0 {
		return fmt.Errorf("%w: etcd recover goes to the Raft leader, which it finds itself; drop --nodes", ErrUsage)
	}
	leader, err := raftLeader(cmd.Context(), c)
	if err != nil {
		return err
	}
	names := serverNames(leader)
	if !o.force {
		// The leader checks its own member; a leader whose member is down
		// cannot see that the others still have a quorum, so ask them all.
		if healthy := healthyMembers(cmd.Context(), c, names); len(healthy) > 0 {
			return fmt.Errorf("%w: etcd still has a quorum: %s report a healthy member. Recovery replaces a working cluster's data with the snapshot's and loses every write made after it; pass --force to recover anyway",
				ErrEtcdHealthy, strings.Join(healthy, ", "))
		}
	}
	res, err := uploadRecovery(cmd.Context(), c, leader.GetLeaderName(), o, f, info.Size(), newProgress(g.streams.Err))
	if err != nil {
		return err
	}
	if g.structured() {
		if err := g.printData(protoObject(res)); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.streams.Out, "etcd recovery decided: generation %d, %s restores the snapshot (%s, SHA-256 %.12s…)\n",
			res.GetGeneration(), res.GetRestoreNode(), byteSize(uint64(max(res.GetSnapshotSize(), 0))), res.GetSnapshotSha256())
	}
	if !o.wait {
		return nil
	}
	return awaitRecovered(cmd.Context(), c, names, res.GetGeneration(), o.waitTimeout, newProgress(g.streams.Err), g.streams.Out, !g.structured())
}

// raftLeader asks the endpoint for its Raft status and returns it once it
// names a leader: the node the recovery is sent to, with the Raft servers
// (the control planes) awaited afterwards.
func raftLeader(ctx context.Context, c *apiClient) (*clusterv1.ConsensusStatusResponse, error) {
	var st *clusterv1.ConsensusStatusResponse
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		res, err := ep.cluster.ConsensusStatus(ctx, request(&clusterv1.ConsensusStatusRequest{}, ""))
		if err == nil {
			st = res.Msg
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find the raft leader: %w", err)
	}
	if st.GetLeaderName() == "" {
		return nil, fmt.Errorf("%w known to %s: the recovery is decided through Raft, which needs a majority of control planes up", ErrNoRaftLeader, st.GetNodeName())
	}
	return st, nil
}

// uploadRecovery streams the snapshot to the leader (named in Cairn-Node,
// through the endpoint that answered last) and returns its answer. It is
// not retried on another endpoint: a recovery whose answer was lost may
// have been decided. --timeout does not bound the upload.
func uploadRecovery(ctx context.Context, c *apiClient, leader string, o etcdRecoverOptions, f io.Reader, size int64, p *progress) (*etcdv1.RecoverResponse, error) {
	c.mu.Lock()
	ep := c.endpoints[c.active]
	c.mu.Unlock()
	stream := c.etcdService(ep).Recover(ctx)
	stream.RequestHeader().Set(headerNode, leader)
	msg := &etcdv1.RecoverRequest{Start: &etcdv1.RecoverStart{ExpectedGeneration: o.generation, Force: o.force}}
	buf := make([]byte, recoverChunk)
	var sent int64
	last := time.Time{}
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			msg.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				// The server ended the call (a refusal): its answer says why.
				break
			}
			sent += int64(n)
			msg = &etcdv1.RecoverRequest{}
		}
		if p.tty && time.Since(last) >= progressEvery {
			p.show([]string{fmt.Sprintf("uploading etcd snapshot to %s: %s of %s", leader, byteSize(uint64(sent)), byteSize(uint64(size)))})
			last = time.Now()
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			_, _ = stream.CloseAndReceive()
			return nil, fmt.Errorf("read snapshot: %w", rerr)
		}
	}
	if p.tty {
		p.show([]string{fmt.Sprintf("uploaded etcd snapshot to %s: %s", leader, byteSize(uint64(sent)))})
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, fmt.Errorf("etcd recover on %s: %w", leader, err)
	}
	return res.Msg, nil
}

// serverNames are the Raft servers' node names: the control planes.
func serverNames(st *clusterv1.ConsensusStatusResponse) []string {
	var out []string
	for _, s := range st.GetServers() {
		out = append(out, s.GetName())
	}
	sort.Strings(out)
	return out
}

// recoveredStatus is the part of a node's EtcdStatus that says whether it
// runs a healthy voter of the recovered generation.
type recoveredStatus struct {
	Phase      string `json:"phase"`
	Healthy    bool   `json:"healthy"`
	Reason     string `json:"reason"`
	Learner    bool   `json:"learner"`
	ClusterID  string `json:"clusterID"`
	Generation uint64 `json:"generation"`
}

// awaitRecovered polls each control plane's EtcdStatus until all report a
// healthy voting member of generation gen in one cluster, or timeout.
func awaitRecovered(ctx context.Context, c *apiClient, names []string, gen uint64, timeout time.Duration, p *progress, out io.Writer, text bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		lines, ok := recoveryLines(ctx, c, names, gen)
		if p.tty {
			// The header's clock would make every poll a change off a
			// terminal, where only changed lines are printed.
			lines = append([]string{fmt.Sprintf("waiting for etcd generation %d on %d control planes (%s of %s)",
				gen, len(names), time.Since(start).Round(time.Second), timeout)}, lines...)
		}
		p.show(lines)
		if ok {
			if text {
				fmt.Fprintf(out, "etcd recovered: generation %d, %d healthy voting members\n", gen, len(names))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: generation %d after %s", ErrNotRecovered, gen, timeout)
		case <-tick.C:
		}
	}
}

// healthyMembers are the control planes whose EtcdStatus says healthy
// (their member follows a leader). One that does not answer counts as not.
func healthyMembers(ctx context.Context, c *apiClient, names []string) []string {
	var out []string
	for _, r := range fetchRecoveryStatus(ctx, c, names) {
		if r.err == nil && r.val.Healthy {
			out = append(out, r.node)
		}
	}
	return out
}

func fetchRecoveryStatus(ctx context.Context, c *apiClient, names []string) []nodeResult[recoveredStatus] {
	return fanOut(ctx, c, names, func(ctx context.Context, ep endpoint, node string) (recoveredStatus, error) {
		res, err := ep.resource.Get(ctx, request(&resourcev1.GetRequest{Type: "EtcdStatus", Id: "etcd"}, node))
		if err != nil {
			return recoveredStatus{}, err
		}
		var st recoveredStatus
		err = yaml.Unmarshal([]byte(res.Msg.GetResource().GetSpecYaml()), &st)
		return st, err
	})
}

// recoveryLines reads each control plane's EtcdStatus and reports, one
// line each, where it stands; ok when every one is done and all share one
// cluster ID.
func recoveryLines(ctx context.Context, c *apiClient, names []string, gen uint64) ([]string, bool) {
	results := fetchRecoveryStatus(ctx, c, names)
	ok := true
	var ids []string
	lines := make([]string, 0, len(results))
	for _, r := range results {
		st := r.val
		done := r.err == nil && st.Generation == gen && st.Healthy && !st.Learner
		ok = ok && done
		mark := markPending
		if done {
			mark = markOK
			if !slices.Contains(ids, st.ClusterID) {
				ids = append(ids, st.ClusterID)
			}
		}
		var detail string
		switch {
		case r.err != nil:
			detail = r.err.Error()
		case done:
			detail = fmt.Sprintf("generation %d, healthy voter of etcd cluster %s", st.Generation, st.ClusterID)
		default:
			detail = fmt.Sprintf("generation %d, %s: %s", st.Generation, orDash(st.Phase), orDash(st.Reason))
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", mark, r.node, detail))
	}
	return lines, ok && len(ids) == 1
}
