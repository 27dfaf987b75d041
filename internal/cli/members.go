package cli

import (
	"bytes"
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func newGetCommand(g *globals) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "get TYPE [ID]",
		Short: "Show cluster members, a node's resources or the cluster's",
		Long: `Show the members of the cluster (get members), a node's local
resources, like talosctl get: the controllers' inputs and outputs, e.g.
links, addresses, routes, NetworkSpec, NetworkStatus, ReceivedConfig,
ConfigStatus; or the cluster-plane resources replicated in Raft, e.g.
ClusterConfig (always with its secrets redacted). --nodes picks who
answers; -w streams changes (cluster resources with their revisions).

TYPE is a type's name or one of its aliases, in any letter case
(networkstatus, addr, cc); 'get rd' lists the types of both scopes (node
and cluster). No name belongs to both. An unknown type is an error that
names the known ones.`,
		Example: `  cairnctl get members
  cairnctl get rd
  cairnctl get ClusterConfig -o yaml
  cairnctl get addresses
  cairnctl -n worker1 get links eth0 -o yaml
  cairnctl -n cp2 get routes -w`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeTypes,
		RunE:              func(cmd *cobra.Command, args []string) error { return getResources(g, cmd, args, watch) },
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "stream changes (one node)")
	cmd.AddCommand(newGetMembersCommand(g), newGetDefinitionsCommand(g))
	return cmd
}

func newGetMembersCommand(g *globals) *cobra.Command {
	var stale, watch bool
	cmd := &cobra.Command{
		Use:     "members",
		Aliases: []string{"member"},
		Short:   "List the nodes of the cluster",
		Long: `List every node of the cluster: role, gossip state, Raft suffrage, the
leader, addresses, the configuration revision each node has applied, its
version and health.

With --nodes each named node answers with its own view (a NODE column says
whose); --stale makes workers answer from their own gossip view instead of
asking a control plane. --watch polls every second and redraws.

With -o json: {"members":[{"name", "role", "apiAddress", "raftAddress",
"gossipAddress", "gossipState", "raftSuffrage", "appliedConfigRevision",
"version", "slot", "health", "leader"}]} (plus "node" with --nodes).`,
		Example: `  cairnctl get members
  cairnctl get members -w
  cairnctl -n cp1,worker1 get members --stale -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			fetch := func(ctx context.Context) []nodeResult[*clusterv1.MembersResponse] {
				return fetchMembers(ctx, c, t.nodes, stale)
			}
			if watch {
				return g.watch(cmd.Context(), func(ctx context.Context) ([]byte, error) {
					var b bytes.Buffer
					err := g.renderMembers(&b, &b, fetch(ctx), len(t.nodes) > 0)
					return b.Bytes(), err
				})
			}
			return g.renderMembers(g.streams.Out, g.streams.Err, fetch(cmd.Context()), len(t.nodes) > 0)
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from each node's own view without asking the leader")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "poll every second and redraw")
	return cmd
}

// fetchMembers asks each node (or the endpoint) for its membership view.
func fetchMembers(ctx context.Context, c *apiClient, nodes []string, stale bool) []nodeResult[*clusterv1.MembersResponse] {
	return fanOut(ctx, c, nodes, func(ctx context.Context, ep endpoint, node string) (*clusterv1.MembersResponse, error) {
		res, err := ep.cluster.Members(ctx, request(&clusterv1.MembersRequest{Stale: stale}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	})
}

// renderMembers writes the merged answers as a table or as
// {"members":[...]}, tagging each member with the node that answered when
// nodes were named. Failed nodes are reported on errW.
func (g *globals) renderMembers(w, errW io.Writer, results []nodeResult[*clusterv1.MembersResponse], perNode bool) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		members := []any{}
		for _, r := range results {
			for _, m := range r.val.GetMembers() {
				obj := protoObject(m).(orderedObject)
				if perNode {
					obj = obj.with("node", r.node)
				}
				members = append(members, obj)
			}
		}
		if err := writeData(w, g.output, orderedObject{{"members", members}}); err != nil {
			return err
		}
		return nodeErrors(errW, results)
	}
	t := membersTable(results, perNode, g.wide())
	if err := t.write(w); err != nil {
		return err
	}
	return nodeErrors(errW, results)
}

// membersTable is get members' table; wide adds the Raft and gossip
// addresses and the boot slot.
func membersTable(results []nodeResult[*clusterv1.MembersResponse], perNode, wide bool) *table {
	t := newTable("NAME", "ROLE", "STATE", "SUFFRAGE", "ETCD", "KUBERNETES", "KUBELET", "LEADER", "API-ADDRESS", "CONFIG-REV", "VERSION", "HEALTH")
	if wide {
		t.header = append(t.header, "RAFT-ADDRESS", "GOSSIP-ADDRESS", "SLOT")
	}
	if perNode {
		t.prependColumn("NODE")
	}
	for _, r := range results {
		for _, m := range r.val.GetMembers() {
			row := []string{
				m.GetName(),
				enumLabel(m.GetRole().String(), "ROLE_"),
				enumLabel(m.GetGossipState().String(), "GOSSIP_STATE_"),
				enumLabel(m.GetRaftSuffrage().String(), "RAFT_SUFFRAGE_"),
				orDash(m.GetEtcd()),
				orDash(m.GetKubernetes()),
				orDash(m.GetKubelet()),
				yesNo(m.GetLeader()),
				m.GetApiAddress(),
				strconv.FormatUint(m.GetAppliedConfigRevision(), 10),
				m.GetVersion(),
				m.GetHealth(),
			}
			if wide {
				row = append(row, orDash(m.GetRaftAddress()), orDash(m.GetGossipAddress()), orDash(m.GetSlot()))
			}
			if perNode {
				row = append([]string{r.node}, row...)
			}
			t.add(row...)
		}
	}
	return t
}
