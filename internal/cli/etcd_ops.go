package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
)

func newEtcdDefragCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "defrag",
		Short: "Defragment a node's etcd member",
		Long: `Rebuild the database file of the etcd member of the endpoint's node (or of
each node named) without its free pages, and print its size before and
after. A member serves nothing while it defragments, so the nodes named
are defragmented one after the other, never at once; a large database can
take longer than the default --timeout. Needs os:operator.

With -o json: {"members":[{"dbSizeBefore", "dbSizeAfter"}]} (plus "node"
with --nodes).`,
		Example: `  cairnctl -n cp1,cp2,cp3 etcd defrag
  cairnctl -n cp1 etcd defrag --timeout 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			nodes := t.nodes
			if len(nodes) == 0 {
				nodes = []string{""}
			}
			results := make([]nodeResult[*etcdv1.DefragmentResponse], len(nodes))
			for i, node := range nodes {
				results[i].node = node
				results[i].err = c.call(cmd.Context(), func(ctx context.Context, ep endpoint) error {
					res, err := c.etcdService(ep).Defragment(ctx, request(&etcdv1.DefragmentRequest{}, node))
					if err == nil {
						results[i].val = res.Msg
					}
					return err
				})
			}
			if g.structured() {
				return renderEtcdList(g, results, "members", func(r *etcdv1.DefragmentResponse) []proto.Message {
					return []proto.Message{r}
				}, nil, nil)
			}
			if err := endpointError(results); err != nil {
				return err
			}
			for _, r := range results {
				if r.err == nil {
					fmt.Fprintf(g.streams.Out, "%sdefragmented etcd: %s -> %s\n", prefix(nodes, r.node),
						byteSize(uint64(max(r.val.GetDbSizeBefore(), 0))), byteSize(uint64(max(r.val.GetDbSizeAfter(), 0))))
				}
			}
			return nodeErrors(g.streams.Err, results)
		},
	}
}

func newEtcdAlarmCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarm",
		Short: "List or disarm etcd alarms",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the alarms raised on any etcd member",
		Long: `List the alarms raised on any member of the etcd cluster, as the member of
the endpoint's node (or of each node named) knows them: NOSPACE (the
database reached its quota; the cluster serves only reads and deletes) or
CORRUPT (a member's data does not match the others'). Needs os:reader.

With -o json: {"alarms":[{"memberId", "type"}]} (plus "node" with --nodes).`,
		Example: `  cairnctl -n cp1 etcd alarm list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := etcdFanOut(cmd, g, func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.AlarmListResponse, error) {
				res, err := c.AlarmList(ctx, request(&etcdv1.AlarmListRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderEtcdList(g, results, "alarms", func(r *etcdv1.AlarmListResponse) []proto.Message {
				return messages(r.GetAlarms())
			}, []string{"MEMBER", "ALARM"}, alarmRow)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "disarm",
		Short: "Disarm every etcd alarm",
		Long: `Disarm every alarm of every etcd member, through the member of the
endpoint's node (or of the one node named), and list those disarmed. A
NOSPACE alarm comes back at once unless space was freed first: compact
(etcd compacts every five minutes) and 'cairnctl etcd defrag' each member.
Needs os:admin: disarming CORRUPT puts a member with diverging data back
into service.`,
		Example: `  cairnctl -n cp1 etcd defrag && cairnctl -n cp1 etcd alarm disarm`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, _, err := etcdSingle(cmd, g, "etcd alarm disarm", func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.AlarmDisarmResponse, error) {
				res, err := c.AlarmDisarm(ctx, request(&etcdv1.AlarmDisarmRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(protoObject(res))
			}
			if len(res.GetAlarms()) == 0 {
				fmt.Fprintln(g.streams.Out, "no alarm was raised")
				return nil
			}
			t := newTable("MEMBER", "ALARM")
			for _, a := range res.GetAlarms() {
				t.add(alarmRow(a)...)
			}
			return t.write(g.streams.Out)
		},
	})
	return cmd
}

func alarmRow(m proto.Message) []string {
	a := m.(*etcdv1.Alarm)
	return []string{formatMemberID(a.GetMemberId()), alarmName(a.GetType())}
}

func newEtcdForfeitLeadershipCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forfeit-leadership",
		Short: "Make a node's etcd member hand leadership on",
		Long: `If the etcd member of the endpoint's node (or of the one node named) leads
the etcd cluster, hand leadership to the most caught-up healthy voting
member; otherwise change nothing. Prints the leader afterwards. Writes
pause for the moment of the handover. Needs os:operator.`,
		Example: `  cairnctl -n cp1 etcd forfeit-leadership`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, _, err := etcdSingle(cmd, g, "etcd forfeit-leadership", func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.ForfeitLeadershipResponse, error) {
				res, err := c.ForfeitLeadership(ctx, request(&etcdv1.ForfeitLeadershipRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(protoObject(res))
			}
			leader := fmt.Sprintf("%s (%s)", orDash(res.GetLeaderName()), formatMemberID(res.GetLeaderId()))
			switch {
			case res.GetMoved():
				fmt.Fprintf(g.streams.Out, "etcd leadership moved to %s\n", leader)
			case res.GetLeaderId() == 0:
				fmt.Fprintln(g.streams.Out, "not the etcd leader; no leader is known")
			default:
				fmt.Fprintf(g.streams.Out, "not the etcd leader; the leader is %s\n", leader)
			}
			return nil
		},
	}
}

func newEtcdLeaveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "leave",
		Short: "Remove a node's own member from the etcd cluster",
		Long: `Remove the etcd member of the endpoint's node (or of the one node named)
from the etcd cluster. It is refused when the healthy voting members left
would not be a majority of the voters left, or when it is the last voting
member. etcd then stops on that node, and its data no longer belongs to the
cluster. Needs os:admin.

The cluster config still lists the node as a control plane: a node that
should stay out of etcd is removed from the config (or reset) instead,
which makes it leave etcd too.`,
		Example: `  cairnctl -n cp3 etcd leave`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, _, err := etcdSingle(cmd, g, "etcd leave", func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.LeaveResponse, error) {
				res, err := c.Leave(ctx, request(&etcdv1.LeaveRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(protoObject(res))
			}
			m := res.GetMember()
			fmt.Fprintf(g.streams.Out, "member %s (%s) left etcd\n", orDash(m.GetName()), formatMemberID(m.GetId()))
			return nil
		},
	}
}

func newEtcdRemoveMemberCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove-member ID",
		Short: "Remove another member from the etcd cluster",
		Long: `Remove the etcd member with ID (hex, as 'cairnctl etcd members' and etcdctl
print it; its decimal form is accepted too) through the member of the
endpoint's node (or of the one node named): for a member whose node is gone
for good. It is refused when the healthy voting members left would not be a
majority of the voters left, and for the answering node's own member (use
'cairnctl etcd leave' on it). Needs os:admin.`,
		Example: `  cairnctl -n cp1 etcd members
  cairnctl -n cp1 etcd remove-member 8e9e05c52164694d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMemberID(args[0])
			if err != nil {
				return err
			}
			res, _, err := etcdSingle(cmd, g, "etcd remove-member", func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.RemoveMemberResponse, error) {
				res, err := c.RemoveMember(ctx, request(&etcdv1.RemoveMemberRequest{MemberId: id}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(protoObject(res))
			}
			m := res.GetMember()
			fmt.Fprintf(g.streams.Out, "removed member %s (%s) from etcd\n", orDash(m.GetName()), formatMemberID(m.GetId()))
			return nil
		},
	}
}
