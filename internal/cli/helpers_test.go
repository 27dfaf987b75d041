package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/runtime"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
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
	securityv1connect.UnimplementedSecurityServiceHandler

	name string
	ca   config.CertKeyPair // signs GenerateClientConfig answers; set by serveFake

	mu        sync.Mutex
	callers   []string // "CN roles" of each request's client certificate
	issued    []*securityv1.GenerateClientConfigRequest
	targets   []string
	config    string
	revision  uint64
	members   []*clusterv1.Member
	applied   []*clusterv1.ApplyConfigRequest
	applyErrs []error // returned by the next ApplyConfig calls, in order
	// gone names nodes that answer not_found, as a node does for a name
	// gossip does not know (Version and Members).
	gone map[string]bool
	// resources is served by the real resource service (node/api).
	resources *runtime.State
	// logLevels are the log levels by target node (loglevel_test.go).
	logLevels map[string]machinev1.LogLevel
	// health answers Health (health_test.go); nil leaves it unimplemented,
	// as on a node that predates it.
	health *clusterv1.HealthResponse
	// boots are the nodes' boot IDs (Version), by node name; power_test.go
	// changes them on Reboot and Reset.
	boots map[string]string
	// resets are the Reset requests received (power_test.go).
	resets []*machinev1.ResetRequest
	// follows are the follow flags of the Dmesg calls received.
	follows []bool
	// downProbes counts the Version calls a node that went down answers
	// not_found before it is back (power_test.go).
	downProbes map[string]int
	// services are the names ServiceService/List answers, by node ("" is
	// the fake's own).
	services map[string][]string
}

// fakeServices answers ServiceService/List from fakeNode.services.
type fakeServices struct{ f *fakeNode }

func (s fakeServices) List(_ context.Context, req *connect.Request[servicev1.ListRequest]) (*connect.Response[servicev1.ListResponse], error) {
	node := req.Header().Get(headerNode)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	out := &servicev1.ListResponse{}
	for _, n := range s.f.services[node] {
		out.Services = append(out.Services, &servicev1.Service{Name: n})
	}
	return connect.NewResponse(out), nil
}

func (fakeServices) Restart(context.Context, *connect.Request[servicev1.RestartRequest]) (*connect.Response[servicev1.RestartResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, nil)
}

func (fakeServices) Logs(context.Context, *connect.Request[servicev1.LogsRequest], *connect.ServerStream[servicev1.LogsResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, nil)
}

// goneError is what the fake answers for a node in gone.
func (f *fakeNode) goneError(n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[n] {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown node: %s", n))
	}
	return nil
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
	if err := f.goneError(viewer); err != nil {
		return nil, err
	}
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
	if err := f.goneError(n); err != nil {
		return nil, err
	}
	if err := f.downError(n); err != nil {
		return nil, err
	}
	return connect.NewResponse(&machinev1.VersionResponse{NodeName: n, Version: "v9.9.9", Mode: "process", BootId: f.bootID(n)}), nil
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

// serveFake serves f on a loopback port over HTTPS (HTTP/2 and HTTP/1.1)
// with the test PKI's server certificate, requiring a client certificate
// from the test CA, and returns its address. So that commands have an
// identity, it also adds a context "fake" for the address holding the test
// admin identity to the default client config (under the isolated HOME),
// unless that context exists; -e ADDR selects any fake.
func serveFake(t *testing.T, f *fakeNode) string {
	t.Helper()
	p := getPKI(t)
	f.ca = p.ca
	mux := http.NewServeMux()
	mux.Handle(clusterv1connect.NewClusterServiceHandler(f))
	mux.Handle(machinev1connect.NewMachineServiceHandler(f))
	mux.Handle(securityv1connect.NewSecurityServiceHandler(f))
	mux.Handle(clusterv1connect.NewClusterResourceServiceHandler(newFakeClusterResources(f)))
	mux.Handle(servicev1connect.NewServiceServiceHandler(fakeServices{f}))
	if f.resources == nil {
		f.resources = runtime.NewState()
	}
	mux.Handle(api.NewResourceHandler(f.resources))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.recordCaller(r)
		mux.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	path, err := defaultClientConfigPath()
	require.NoError(t, err)
	cc, err := ReadClientConfig(path)
	require.NoError(t, err)
	if _, ok := cc.Contexts["fake"]; !ok {
		cc.Merge("fake", p.adminContext(addr), false)
		require.NoError(t, WriteClientConfig(path, cc))
	}
	return addr
}

func (f *fakeNode) recordCaller(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s := r.TLS.PeerCertificates[0].Subject
		f.callers = append(f.callers, s.CommonName+" "+strings.Join(s.Organization, ","))
	}
}

func (f *fakeNode) seenCallers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.callers...)
}

// GenerateClientConfig issues a certificate with the test CA, as a control
// plane would.
func (f *fakeNode) GenerateClientConfig(_ context.Context, req *connect.Request[securityv1.GenerateClientConfigRequest]) (*connect.Response[securityv1.GenerateClientConfigResponse], error) {
	f.record(req.Header())
	f.mu.Lock()
	f.issued = append(f.issued, req.Msg)
	f.mu.Unlock()
	id, err := config.GenerateAdminClientCert(f.ca, req.Msg.GetName(), req.Msg.GetRoles(), req.Msg.GetTtl().AsDuration())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewResponse(&securityv1.GenerateClientConfigResponse{
		Ca: []byte(f.ca.Crt), Crt: []byte(id.Crt), Key: []byte(id.Key),
	}), nil
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
