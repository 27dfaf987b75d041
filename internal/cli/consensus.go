package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func newConsensusCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consensus",
		Short: "Inspect the control planes' Raft group",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newConsensusStatusCommand(g))
	return cmd
}

func newConsensusStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show a node's view of the Raft group",
		Long: `Show the Raft state of the endpoint's node, or of each node named with
--nodes: its state, the leader it knows, term, commit/applied/last index, its
store revision, and the servers of the Raft configuration with their
suffrage and health. Workers are not Raft members and answer with an error.

With -o json it prints the ConsensusStatusResponse (lowerCamelCase names,
every field present, 64-bit numbers as JSON numbers), one document per node.`,
		Example: `  cairnctl consensus status
  cairnctl -n cp1,cp2,cp3 consensus status
  cairnctl consensus status -o json | jq .leaderName`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			results := fetchConsensus(cmd.Context(), c, t.nodes)
			if err := endpointError(results); err != nil {
				return err
			}
			if err := g.renderConsensus(g.streams.Out, results, len(t.nodes) > 1); err != nil {
				return err
			}
			return nodeErrors(g.streams.Err, results)
		},
	}
}

// fetchConsensus asks each node (or the endpoint) for its Raft status.
func fetchConsensus(ctx context.Context, c *apiClient, nodes []string) []nodeResult[*clusterv1.ConsensusStatusResponse] {
	return fanOut(ctx, c, nodes, func(ctx context.Context, ep endpoint, node string) (*clusterv1.ConsensusStatusResponse, error) {
		res, err := ep.cluster.ConsensusStatus(ctx, request(&clusterv1.ConsensusStatusRequest{}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	})
}

// renderConsensus writes one document per answering node, or a status
// table followed by the servers table.
func (g *globals) renderConsensus(w io.Writer, results []nodeResult[*clusterv1.ConsensusStatusResponse], perNode bool) error {
	if g.structured() {
		for i, r := range results {
			if r.err != nil {
				continue
			}
			if i > 0 && g.output == outputYAML {
				fmt.Fprintln(w, "---")
			}
			if err := writeData(w, g.output, protoObject(r.val)); err != nil {
				return err
			}
		}
		return nil
	}
	status := newTable("NODE", "STATE", "LEADER", "TERM", "COMMIT", "APPLIED", "LAST-INDEX", "REVISION")
	servers := newTable("NAME", "ID", "ADDRESS", "SUFFRAGE", "LEADER", "HEALTHY", "LAST-CONTACT")
	if perNode {
		servers.prependColumn("NODE")
	}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		s := r.val
		status.add(s.GetNodeName(), s.GetState(), s.GetLeaderName(), u64(s.GetTerm()), u64(s.GetCommitIndex()),
			u64(s.GetAppliedIndex()), u64(s.GetLastIndex()), u64(s.GetRevision()))
		for _, sv := range s.GetServers() {
			row := []string{sv.GetName(), sv.GetId(), sv.GetAddress(), enumLabel(sv.GetSuffrage().String(), "RAFT_SUFFRAGE_"),
				yesNo(sv.GetLeader()), healthLabel(sv), contactAge(sv)}
			if perNode {
				row = append([]string{s.GetNodeName()}, row...)
			}
			servers.add(row...)
		}
	}
	if err := status.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return servers.write(w)
}

// healthLabel renders a server's health: yes, no, or unknown when the
// answering node cannot tell (a follower, about another follower).
func healthLabel(sv *clusterv1.RaftServer) string {
	if sv.GetHealth() == clusterv1.ServerHealth_SERVER_HEALTH_UNKNOWN {
		return "unknown"
	}
	return yesNo(sv.GetHealthy())
}

// contactAge renders when the answering node last heard from a server.
func contactAge(sv *clusterv1.RaftServer) string {
	if sv.GetLastContact() == nil {
		return ""
	}
	return time.Since(sv.GetLastContact().AsTime()).Round(time.Millisecond).String() + " ago"
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
