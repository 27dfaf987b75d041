package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// result is what one in-process cairnctl run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs cairnctl in-process with args and an empty stdin.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runCLIWithInput(t, "", args...)
}

func runCLIWithInput(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Execute(ctx, args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// isolateHome points HOME at a fresh directory and clears CAIRNCONFIG, so
// no test reads or writes the real client config.
func isolateHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EnvCairnconfig, "")
	return home
}

// fakeNode is a stateful in-memory node API: a cluster service holding one
// configuration and a member list, and a machine service. It records the
// Cairn-Node header of every call.
type fakeNode struct {
	clusterv1connect.UnimplementedClusterServiceHandler
	machinev1connect.UnimplementedMachineServiceHandler

	name string

	mu        sync.Mutex
	targets   []string
	config    string
	revision  uint64
	members   []*clusterv1.Member
	applied   []*clusterv1.ApplyConfigRequest
	applyErrs []error // returned by the next ApplyConfig calls, in order
}

func (f *fakeNode) record(h http.Header) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := h.Get(headerNode)
	f.targets = append(f.targets, n)
	if n == "" {
		n = f.name
	}
	return n
}

func (f *fakeNode) Members(_ context.Context, req *connect.Request[clusterv1.MembersRequest]) (*connect.Response[clusterv1.MembersResponse], error) {
	viewer := f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &clusterv1.MembersResponse{}
	for _, m := range f.members {
		c := cloneMember(m)
		c.Health = "seen by " + viewer
		res.Members = append(res.Members, c)
	}
	return connect.NewResponse(res), nil
}

func (f *fakeNode) GetConfig(_ context.Context, req *connect.Request[clusterv1.GetConfigRequest]) (*connect.Response[clusterv1.GetConfigResponse], error) {
	f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&clusterv1.GetConfigResponse{Config: f.config, Revision: f.revision, Version: f.revision}), nil
}

func (f *fakeNode) ApplyConfig(_ context.Context, req *connect.Request[clusterv1.ApplyConfigRequest]) (*connect.Response[clusterv1.ApplyConfigResponse], error) {
	f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, req.Msg)
	if len(f.applyErrs) > 0 {
		err := f.applyErrs[0]
		f.applyErrs = f.applyErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	if e := req.Msg.GetExpectedRevision(); e != 0 && e != f.revision {
		return nil, conflictError(e, f.revision)
	}
	changed := req.Msg.GetConfig() != f.config
	if changed && !req.Msg.GetDryRun() {
		f.config = req.Msg.GetConfig()
		f.revision++
	}
	return connect.NewResponse(&clusterv1.ApplyConfigResponse{
		Revision: f.revision, Changed: changed, DryRun: req.Msg.GetDryRun(), Diff: "-old\n+new\n",
	}), nil
}

func (f *fakeNode) Version(_ context.Context, req *connect.Request[machinev1.VersionRequest]) (*connect.Response[machinev1.VersionResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.VersionResponse{NodeName: n, Version: "v9.9.9", Mode: "process"}), nil
}

func (f *fakeNode) seenTargets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.targets...)
}

func cloneMember(m *clusterv1.Member) *clusterv1.Member {
	return proto.Clone(m).(*clusterv1.Member)
}

func conflictError(expected, current uint64) error {
	err := connect.NewError(connect.CodeAborted, errConflictForTest)
	d, _ := connect.NewErrorDetail(&clusterv1.RevisionConflict{ExpectedRevision: expected, CurrentRevision: current})
	err.AddDetail(d)
	return err
}

var errConflictForTest = errors.New("config revision conflict")

// serveFake serves f on a loopback port over HTTP/1.1 and h2c and returns
// its address.
func serveFake(t *testing.T, f *fakeNode) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(clusterv1connect.NewClusterServiceHandler(f))
	mux.Handle(machinev1connect.NewMachineServiceHandler(f))
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: p, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
