package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairn-project/cairn/node/machine/etcd"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
)

// EtcdOps is this node's etcd member as cairn.etcd.v1 operates it;
// *etcd.Ops is the real one. Its methods fail with etcd.ErrNoMember while
// the node runs no member.
type EtcdOps interface {
	Members(ctx context.Context) ([]etcd.MemberInfo, error)
	Status(ctx context.Context) (etcd.MemberStatus, error)
	Snapshot(ctx context.Context, w io.Writer) (etcd.SnapshotInfo, error)
	Defragment(ctx context.Context) (etcd.DefragmentResult, error)
	Alarms(ctx context.Context) ([]etcd.Alarm, error)
	DisarmAlarms(ctx context.Context) ([]etcd.Alarm, error)
	ForfeitLeadership(ctx context.Context) (etcd.ForfeitResult, error)
	Leave(ctx context.Context) (etcd.MemberInfo, error)
	RemoveMember(ctx context.Context, id uint64) (etcd.MemberInfo, error)
}

// errNoEtcd is what a node without an etcd member answers.
var errNoEtcd = errors.New("this node runs no etcd member (workers do not; a control plane whose etcd has not started yet: see cairnctl get EtcdStatus)")

// NewEtcdHandler returns the route and handler of cairn.etcd.v1.EtcdService
// over ops; nil ops (a node that never runs etcd) answers every call with
// failed_precondition, as does an ops without a member yet.
func NewEtcdHandler(ops EtcdOps, opts ...connect.HandlerOption) (string, http.Handler) {
	return newEtcdHandler(ops, nil, opts...)
}

// newEtcdHandler is NewEtcdHandler with Recover served by recovery (nil
// refuses it).
func newEtcdHandler(ops EtcdOps, recovery *EtcdRecovery, opts ...connect.HandlerOption) (string, http.Handler) {
	return etcdv1connect.NewEtcdServiceHandler(&etcdService{ops: ops, recovery: recovery}, opts...)
}

type etcdService struct {
	ops      EtcdOps
	recovery *EtcdRecovery
}

// call runs fn on the member, mapping what fails to Connect codes.
func etcdCall[T any](s *etcdService, fn func(EtcdOps) (T, error)) (T, error) {
	var zero T
	if s.ops == nil {
		return zero, connect.NewError(connect.CodeFailedPrecondition, errNoEtcd)
	}
	v, err := fn(s.ops)
	if err != nil {
		return zero, etcdError(err)
	}
	return v, nil
}

// Members implements cairn.etcd.v1.EtcdService.
func (s *etcdService) Members(ctx context.Context, _ *connect.Request[etcdv1.MembersRequest]) (*connect.Response[etcdv1.MembersResponse], error) {
	list, err := etcdCall(s, func(o EtcdOps) ([]etcd.MemberInfo, error) { return o.Members(ctx) })
	if err != nil {
		return nil, err
	}
	out := &etcdv1.MembersResponse{}
	for _, m := range list {
		out.Members = append(out.Members, memberToProto(m))
	}
	return connect.NewResponse(out), nil
}

// Status implements cairn.etcd.v1.EtcdService.
func (s *etcdService) Status(ctx context.Context, _ *connect.Request[etcdv1.StatusRequest]) (*connect.Response[etcdv1.StatusResponse], error) {
	st, err := etcdCall(s, func(o EtcdOps) (etcd.MemberStatus, error) { return o.Status(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.StatusResponse{
		MemberId: st.MemberID, Name: st.Name, ClusterId: st.ClusterID, Learner: st.Learner, LeaderId: st.LeaderID,
		RaftTerm: st.RaftTerm, RaftIndex: st.RaftIndex, RaftAppliedIndex: st.RaftAppliedIndex, Revision: st.Revision,
		DbSize: st.DBSize, DbSizeInUse: st.DBSizeInUse, DbSizeQuota: st.DBSizeQuota, Version: st.Version,
		Alarms: alarmsToProto(st.Alarms), Errors: st.Errors,
	}), nil
}

// Snapshot implements cairn.etcd.v1.EtcdService: each chunk the member
// hands over is sent as it comes, so the node holds at most one chunk.
func (s *etcdService) Snapshot(ctx context.Context, _ *connect.Request[etcdv1.SnapshotRequest], stream *connect.ServerStream[etcdv1.SnapshotResponse]) error {
	info, err := etcdCall(s, func(o EtcdOps) (etcd.SnapshotInfo, error) {
		return o.Snapshot(ctx, chunkWriter{stream})
	})
	if err != nil {
		return err
	}
	return stream.Send(&etcdv1.SnapshotResponse{Summary: &etcdv1.SnapshotSummary{
		Size: info.Size, Revision: info.Revision, Version: info.Version,
	}})
}

// chunkWriter sends every write as one SnapshotResponse. Send does not
// keep p, since it marshals before returning.
type chunkWriter struct {
	stream *connect.ServerStream[etcdv1.SnapshotResponse]
}

func (w chunkWriter) Write(p []byte) (int, error) {
	if err := w.stream.Send(&etcdv1.SnapshotResponse{Data: p}); err != nil {
		return 0, fmt.Errorf("send snapshot chunk: %w", err)
	}
	return len(p), nil
}

// Defragment implements cairn.etcd.v1.EtcdService.
func (s *etcdService) Defragment(ctx context.Context, _ *connect.Request[etcdv1.DefragmentRequest]) (*connect.Response[etcdv1.DefragmentResponse], error) {
	r, err := etcdCall(s, func(o EtcdOps) (etcd.DefragmentResult, error) { return o.Defragment(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.DefragmentResponse{DbSizeBefore: r.SizeBefore, DbSizeAfter: r.SizeAfter}), nil
}

// AlarmList implements cairn.etcd.v1.EtcdService.
func (s *etcdService) AlarmList(ctx context.Context, _ *connect.Request[etcdv1.AlarmListRequest]) (*connect.Response[etcdv1.AlarmListResponse], error) {
	a, err := etcdCall(s, func(o EtcdOps) ([]etcd.Alarm, error) { return o.Alarms(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.AlarmListResponse{Alarms: alarmsToProto(a)}), nil
}

// AlarmDisarm implements cairn.etcd.v1.EtcdService.
func (s *etcdService) AlarmDisarm(ctx context.Context, _ *connect.Request[etcdv1.AlarmDisarmRequest]) (*connect.Response[etcdv1.AlarmDisarmResponse], error) {
	a, err := etcdCall(s, func(o EtcdOps) ([]etcd.Alarm, error) { return o.DisarmAlarms(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.AlarmDisarmResponse{Alarms: alarmsToProto(a)}), nil
}

// ForfeitLeadership implements cairn.etcd.v1.EtcdService.
func (s *etcdService) ForfeitLeadership(ctx context.Context, _ *connect.Request[etcdv1.ForfeitLeadershipRequest]) (*connect.Response[etcdv1.ForfeitLeadershipResponse], error) {
	r, err := etcdCall(s, func(o EtcdOps) (etcd.ForfeitResult, error) { return o.ForfeitLeadership(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.ForfeitLeadershipResponse{Moved: r.Moved, LeaderId: r.LeaderID, LeaderName: r.LeaderName}), nil
}

// Leave implements cairn.etcd.v1.EtcdService.
func (s *etcdService) Leave(ctx context.Context, _ *connect.Request[etcdv1.LeaveRequest]) (*connect.Response[etcdv1.LeaveResponse], error) {
	m, err := etcdCall(s, func(o EtcdOps) (etcd.MemberInfo, error) { return o.Leave(ctx) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.LeaveResponse{Member: memberToProto(m)}), nil
}

// RemoveMember implements cairn.etcd.v1.EtcdService.
func (s *etcdService) RemoveMember(ctx context.Context, req *connect.Request[etcdv1.RemoveMemberRequest]) (*connect.Response[etcdv1.RemoveMemberResponse], error) {
	if req.Msg.GetMemberId() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("member_id is required"))
	}
	m, err := etcdCall(s, func(o EtcdOps) (etcd.MemberInfo, error) { return o.RemoveMember(ctx, req.Msg.GetMemberId()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&etcdv1.RemoveMemberResponse{Member: memberToProto(m)}), nil
}

// etcdError maps an Ops error to a Connect code: the quorum guards and a
// missing member are preconditions, an unknown ID is not_found, and
// etcd's own errors keep their gRPC code (the two code sets are the same
// numbers), so "no leader" stays unavailable.
func etcdError(err error) error {
	switch {
	case errors.Is(err, etcd.ErrNoMember):
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%w: %w", errNoEtcd, err))
	case errors.Is(err, etcd.ErrQuorum), errors.Is(err, etcd.ErrLastMember),
		errors.Is(err, etcd.ErrRemoveSelf), errors.Is(err, etcd.ErrNoTransferee):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, etcd.ErrUnknownMember):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return toConnect(err)
	}
	var coded interface{ Code() codes.Code }
	if errors.As(err, &coded) && coded.Code() != codes.OK && coded.Code() != codes.Unknown {
		return connect.NewError(connect.Code(coded.Code()), err)
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
		return connect.NewError(connect.Code(st.Code()), err)
	}
	return toConnect(err)
}

func memberToProto(m etcd.MemberInfo) *etcdv1.Member {
	return &etcdv1.Member{Id: m.ID, Name: m.Name, PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, Learner: m.Learner}
}

func alarmsToProto(in []etcd.Alarm) []*etcdv1.Alarm {
	out := make([]*etcdv1.Alarm, 0, len(in))
	for _, a := range in {
		t := etcdv1.AlarmType_ALARM_TYPE_UNSPECIFIED
		switch a.Type {
		case etcd.AlarmNoSpace:
			t = etcdv1.AlarmType_ALARM_TYPE_NOSPACE
		case etcd.AlarmCorrupt:
			t = etcdv1.AlarmType_ALARM_TYPE_CORRUPT
		}
		out = append(out, &etcdv1.Alarm{MemberId: a.MemberID, Type: t})
	}
	return out
}
