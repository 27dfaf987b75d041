package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
)

func newEtcdCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Operate the etcd member of a control plane",
		Long: `Operate the etcd member of the endpoint's node, or of each node named with
--nodes, like 'talosctl etcd': every subcommand talks to that node's own
member, so what it reports is that member's view. Workers run no member,
and neither does a control plane whose etcd has not started yet: they fail
with FailedPrecondition ('cairnctl get EtcdStatus' says why). A learner
(a member catching up before it may vote) answers status only.

Member IDs are printed in hex, as etcdctl prints them; with -o json/yaml
they are decimal numbers, exact but past 2^53 (read them as 64-bit
integers: jq 1.7 does, JavaScript does not).

Roles: members, status and alarm list need os:reader; defrag and
forfeit-leadership os:operator; snapshot (it holds every secret stored in
etcd), alarm disarm, leave, remove-member and recover os:admin.

'cairnctl etcd recover --from FILE' is the disaster recovery from a
snapshot, for a cluster that lost a majority of its members for good.`,
		Example: `  cairnctl -n cp1,cp2,cp3 etcd status
  cairnctl -n cp1 etcd members
  cairnctl -n cp1 etcd snapshot etcd.snapshot
  cairnctl -n cp2 etcd remove-member 8e9e05c52164694d`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		newEtcdMembersCommand(g),
		newEtcdStatusCommand(g),
		newEtcdSnapshotCommand(g),
		newEtcdDefragCommand(g),
		newEtcdAlarmCommand(g),
		newEtcdForfeitLeadershipCommand(g),
		newEtcdLeaveCommand(g),
		newEtcdRemoveMemberCommand(g),
		newEtcdRecoverCommand(g),
	)
	return cmd
}

// etcdService is the etcd service client of ep, through c's connections
// (endpoint holds one client per service of the other commands; this one is
// made per call, which costs a few allocations).
func (c *apiClient) etcdService(ep endpoint) etcdv1connect.EtcdServiceClient {
	opts := connect.WithClientOptions(connect.WithGRPC(), connect.WithSendMaxBytes(maxRequestBytes))
	return etcdv1connect.NewEtcdServiceClient(&http.Client{Transport: c.transport}, "https://"+ep.addr, opts)
}

// etcdFanOut calls fn on each node's member (the endpoint's without
// --nodes) and returns the answers in node order.
func etcdFanOut[T any](cmd *cobra.Command, g *globals, fn func(context.Context, etcdv1connect.EtcdServiceClient, string) (T, error)) ([]nodeResult[T], error) {
	c, t, err := g.client()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) (T, error) {
		return fn(ctx, c.etcdService(ep), node)
	}), nil
}

// etcdSingle calls fn on one node's member: the endpoint's, or the one node
// named. Commands that change the cluster or write a file ask one node.
func etcdSingle[T any](cmd *cobra.Command, g *globals, name string, fn func(context.Context, etcdv1connect.EtcdServiceClient, string) (T, error)) (T, string, error) {
	var zero T
	c, t, err := g.client()
	if err != nil {
		return zero, "", err
	}
	defer c.Close()
	node, err := singleNode(t, name)
	if err != nil {
		return zero, "", err
	}
	var out T
	err = c.call(cmd.Context(), func(ctx context.Context, ep endpoint) error {
		v, err := fn(ctx, c.etcdService(ep), node)
		out = v
		return err
	})
	return out, node, err
}

// renderEtcdList writes per-node answers: as {key: [...]} in json/yaml
// (each item tagged with "node" when nodes were named), else as a table
// whose rows rows returns.
func renderEtcdList[T any](g *globals, results []nodeResult[T], key string, items func(T) []proto.Message,
	header []string, row func(proto.Message) []string,
) error {
	if err := endpointError(results); err != nil {
		return err
	}
	perNode := len(results) > 1 || results[0].node != ""
	if g.structured() {
		list := []any{}
		for _, r := range results {
			if r.err != nil {
				continue
			}
			for _, m := range items(r.val) {
				obj := protoObject(m).(orderedObject)
				if perNode {
					obj = obj.with("node", r.node)
				}
				list = append(list, obj)
			}
		}
		if err := writeData(g.streams.Out, g.output, orderedObject{{key, list}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	t := newTable(header...)
	if perNode {
		t.prependColumn("NODE")
	}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		for _, m := range items(r.val) {
			cells := row(m)
			if perNode {
				cells = append([]string{r.node}, cells...)
			}
			t.add(cells...)
		}
	}
	if err := t.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}

func newEtcdMembersCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the etcd cluster's members as a node's member sees them",
		Long: `List the etcd cluster's members as the member of the endpoint's node (or of
each node named) knows them: ID, name, peer and client URLs, and whether
each is a learner (receives the log, does not vote). The read is
linearizable: a member cut off from its leader fails instead of answering
from a stale list. A member added but not started yet has no name and no
client URLs.

With -o json: {"members":[{"id", "name", "peerUrls", "clientUrls",
"learner"}]} (plus "node" with --nodes).`,
		Example: `  cairnctl etcd members
  cairnctl -n cp1,cp2,cp3 etcd members -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := etcdFanOut(cmd, g, func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.MembersResponse, error) {
				res, err := c.Members(ctx, request(&etcdv1.MembersRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderEtcdList(g, results, "members", func(r *etcdv1.MembersResponse) []proto.Message {
				return messages(r.GetMembers())
			}, []string{"ID", "NAME", "PEER-URLS", "CLIENT-URLS", "LEARNER"}, func(m proto.Message) []string {
				mm := m.(*etcdv1.Member)
				return []string{formatMemberID(mm.GetId()), mm.GetName(), strings.Join(mm.GetPeerUrls(), ","),
					strings.Join(mm.GetClientUrls(), ","), yesNo(mm.GetLearner())}
			})
		},
	}
}

func newEtcdStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the status of a node's etcd member",
		Long: `Show the status of the etcd member of the endpoint's node, or of each node
named: its ID and name, database size and the part of it in use (what a
defrag shrinks the file to), the leader it follows, its Raft index, term
and applied index, whether it is a learner, and the alarms raised on it
and the errors it reports.

With -o json: {"members":[{"memberId", "name", "clusterId", "learner",
"leaderId", "raftTerm", "raftIndex", "raftAppliedIndex", "revision",
"dbSize", "dbSizeInUse", "dbSizeQuota", "version", "alarms", "errors"}]}
(plus "node" with --nodes).`,
		Example: `  cairnctl -n cp1,cp2,cp3 etcd status
  cairnctl -n cp1 etcd status -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := etcdFanOut(cmd, g, func(ctx context.Context, c etcdv1connect.EtcdServiceClient, node string) (*etcdv1.StatusResponse, error) {
				res, err := c.Status(ctx, request(&etcdv1.StatusRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderEtcdList(g, results, "members", func(r *etcdv1.StatusResponse) []proto.Message {
				return []proto.Message{r}
			}, []string{"MEMBER", "NAME", "DB-SIZE", "IN-USE", "LEADER", "RAFT-INDEX", "RAFT-TERM", "RAFT-APPLIED", "LEARNER", "ALARMS", "ERRORS"},
				func(m proto.Message) []string {
					s := m.(*etcdv1.StatusResponse)
					return []string{formatMemberID(s.GetMemberId()), s.GetName(), byteSize(uint64(max(s.GetDbSize(), 0))),
						inUse(s.GetDbSizeInUse(), s.GetDbSize()), formatMemberID(s.GetLeaderId()),
						strconv.FormatUint(s.GetRaftIndex(), 10), strconv.FormatUint(s.GetRaftTerm(), 10),
						strconv.FormatUint(s.GetRaftAppliedIndex(), 10), yesNo(s.GetLearner()),
						alarmNames(s.GetAlarms()), strings.Join(s.GetErrors(), "; ")}
				})
		},
	}
}

// inUse renders the part of the database in use, with its share.
func inUse(used, size int64) string {
	if size <= 0 {
		return byteSize(uint64(max(used, 0)))
	}
	return fmt.Sprintf("%s (%.0f%%)", byteSize(uint64(max(used, 0))), float64(used)*100/float64(size))
}

func alarmNames(alarms []*etcdv1.Alarm) string {
	names := make([]string, 0, len(alarms))
	for _, a := range alarms {
		names = append(names, alarmName(a.GetType()))
	}
	return strings.Join(names, ",")
}

func alarmName(t etcdv1.AlarmType) string {
	if n := enumLabel(t.String(), "ALARM_TYPE_"); n != "" {
		return strings.ToUpper(n)
	}
	return "UNKNOWN"
}

// formatMemberID prints an etcd member ID as etcdctl does (hex); 0, "no
// member", prints empty.
func formatMemberID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 16)
}

// parseMemberID reads a member ID as etcdctl prints it, in hex (0x
// optional), or in decimal. Digits alone are ambiguous: up to 16 of them
// are read as hex, as etcdctl prints IDs; more (a 64-bit ID in decimal has
// up to 20, nearly always 17 or more) as decimal.
func parseMemberID(s string) (uint64, error) {
	hex := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	digitsOnly := strings.Trim(s, "0123456789") == ""
	var id uint64
	var err error
	if digitsOnly && len(s) > 16 {
		id, err = strconv.ParseUint(s, 10, 64)
	} else {
		id, err = strconv.ParseUint(hex, 16, 64)
	}
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%w: member ID %q: want the hex ID 'cairnctl etcd members' prints, or its decimal form", ErrUsage, s)
	}
	return id, nil
}

// messages converts a typed slice of messages to proto.Message values.
func messages[M proto.Message](in []M) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}
