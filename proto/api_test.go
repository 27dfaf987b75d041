package proto_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// testServer is a stateful stand-in for the node API: just enough to prove
// the generated handlers, clients and error details work end to end.
type testServer struct {
	machinev1connect.UnimplementedMachineServiceHandler
	clusterv1connect.UnimplementedClusterServiceHandler
	revision uint64
}

func (s *testServer) Version(context.Context, *connect.Request[machinev1.VersionRequest]) (*connect.Response[machinev1.VersionResponse], error) {
	return connect.NewResponse(&machinev1.VersionResponse{NodeName: "cp1", Mode: "process"}), nil
}

func (s *testServer) ApplyConfig(_ context.Context, req *connect.Request[clusterv1.ApplyConfigRequest]) (*connect.Response[clusterv1.ApplyConfigResponse], error) {
	if req.Msg.GetConfig() == "" {
		return nil, withDetail(connect.CodeInvalidArgument, errors.New("invalid config"), &clusterv1.ValidationErrors{
			Violations: []*clusterv1.FieldViolation{{Field: "machines[1].addresses[0]", Description: "not an IP prefix"}},
		})
	}
	if exp := req.Msg.GetExpectedRevision(); exp != 0 && exp != s.revision {
		return nil, withDetail(connect.CodeAborted, errors.New("revision conflict"), &clusterv1.RevisionConflict{
			ExpectedRevision: exp, CurrentRevision: s.revision,
		})
	}
	s.revision++
	return connect.NewResponse(&clusterv1.ApplyConfigResponse{Revision: s.revision, Changed: true}), nil
}

func withDetail(code connect.Code, err error, msg proto.Message) error {
	cerr := connect.NewError(code, err)
	detail, derr := connect.NewErrorDetail(msg)
	if derr != nil {
		return derr
	}
	cerr.AddDetail(detail)
	return cerr
}

// detail returns the first detail of err of type T.
func detail[T proto.Message](t *testing.T, err error) T {
	t.Helper()
	var cerr *connect.Error
	require.ErrorAs(t, err, &cerr)
	for _, d := range cerr.Details() {
		v, verr := d.Value()
		require.NoError(t, verr)
		if m, ok := v.(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("error %v has no %T detail", err, zero)
	return zero
}

// TestRoundTrip calls a loopback server through the generated clients over
// the Connect protocol (HTTP/1.1) and gRPC (HTTP/2), the two protocols
// cairnctl and grpcurl use.
func TestRoundTrip(t *testing.T) {
	protocols := map[string][]connect.ClientOption{
		"connect": nil,
		"grpc":    {connect.WithGRPC()},
	}
	for name, opts := range protocols {
		t.Run(name, func(t *testing.T) {
			mux := http.NewServeMux()
			srv := &testServer{}
			mux.Handle(machinev1connect.NewMachineServiceHandler(srv))
			mux.Handle(clusterv1connect.NewClusterServiceHandler(srv))
			hs := httptest.NewUnstartedServer(mux)
			hs.EnableHTTP2 = true
			hs.StartTLS()
			t.Cleanup(hs.Close)
			ctx := t.Context()

			machine := machinev1connect.NewMachineServiceClient(hs.Client(), hs.URL, opts...)
			ver, err := machine.Version(ctx, connect.NewRequest(&machinev1.VersionRequest{}))
			require.NoError(t, err)
			require.Equal(t, "cp1", ver.Msg.GetNodeName())

			cluster := clusterv1connect.NewClusterServiceClient(hs.Client(), hs.URL, opts...)
			applied, err := cluster.ApplyConfig(ctx, connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: "a: 1"}))
			require.NoError(t, err)
			require.Equal(t, uint64(1), applied.Msg.GetRevision())

			_, err = cluster.ApplyConfig(ctx, connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: "a: 2", ExpectedRevision: 7}))
			require.Equal(t, connect.CodeAborted, connect.CodeOf(err))
			conflict := detail[*clusterv1.RevisionConflict](t, err)
			require.Equal(t, uint64(7), conflict.GetExpectedRevision())
			require.Equal(t, uint64(1), conflict.GetCurrentRevision())

			_, err = cluster.ApplyConfig(ctx, connect.NewRequest(&clusterv1.ApplyConfigRequest{}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
			violations := detail[*clusterv1.ValidationErrors](t, err).GetViolations()
			require.Len(t, violations, 1)
			require.Equal(t, "machines[1].addresses[0]", violations[0].GetField())

			_, err = cluster.Members(ctx, connect.NewRequest(&clusterv1.MembersRequest{}))
			require.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
		})
	}
}
