package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/pki"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
)

// fakeEtcd is an in-memory member: a member list, alarms and a database
// whose bytes are the snapshot, written in chunks of chunk bytes.
type fakeEtcd struct {
	mu      sync.Mutex
	self    uint64
	members []etcd.MemberInfo
	alarms  []etcd.Alarm
	db      []byte
	chunk   int
	// healthy is how many voters answer besides this one.
	healthy int
}

func newFakeEtcd(t *testing.T) *fakeEtcd {
	db := make([]byte, 3<<20+17)
	_, err := rand.Read(db)
	require.NoError(t, err)
	return &fakeEtcd{
		self: 1, db: db, chunk: 64 << 10, healthy: 2,
		members: []etcd.MemberInfo{
			{ID: 1, Name: "cp1", PeerURLs: []string{"https://10.0.0.1:2380"}, ClientURLs: []string{"https://10.0.0.1:2379"}},
			{ID: 2, Name: "cp2", PeerURLs: []string{"https://10.0.0.2:2380"}, ClientURLs: []string{"https://10.0.0.2:2379"}},
			{ID: 3, Name: "cp3", PeerURLs: []string{"https://10.0.0.3:2380"}, ClientURLs: []string{"https://10.0.0.3:2379"}},
		},
		alarms: []etcd.Alarm{{MemberID: 2, Type: etcd.AlarmNoSpace}},
	}
}

func (f *fakeEtcd) Members(context.Context) ([]etcd.MemberInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]etcd.MemberInfo(nil), f.members...), nil
}

func (f *fakeEtcd) Status(context.Context) (etcd.MemberStatus, error) {
	return etcd.MemberStatus{MemberID: f.self, Name: "cp1", LeaderID: f.self, DBSize: int64(len(f.db)), Version: "3.7.3"}, nil
}

func (f *fakeEtcd) Snapshot(_ context.Context, w io.Writer) (etcd.SnapshotInfo, error) {
	for off := 0; off < len(f.db); off += f.chunk {
		if _, err := w.Write(f.db[off:min(off+f.chunk, len(f.db))]); err != nil {
			return etcd.SnapshotInfo{}, err
		}
	}
	return etcd.SnapshotInfo{Size: int64(len(f.db)), Revision: 42, Version: "3.7.0"}, nil
}

func (f *fakeEtcd) Defragment(context.Context) (etcd.DefragmentResult, error) {
	return etcd.DefragmentResult{SizeBefore: 100, SizeAfter: 60}, nil
}

func (f *fakeEtcd) Alarms(context.Context) ([]etcd.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]etcd.Alarm(nil), f.alarms...), nil
}

func (f *fakeEtcd) DisarmAlarms(context.Context) ([]etcd.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.alarms
	f.alarms = nil
	return out, nil
}

func (f *fakeEtcd) ForfeitLeadership(context.Context) (etcd.ForfeitResult, error) {
	return etcd.ForfeitResult{Moved: true, LeaderID: 2, LeaderName: "cp2"}, nil
}

func (f *fakeEtcd) Leave(ctx context.Context) (etcd.MemberInfo, error) { return f.remove(f.self) }

func (f *fakeEtcd) RemoveMember(_ context.Context, id uint64) (etcd.MemberInfo, error) {
	if id == f.self {
		return etcd.MemberInfo{}, etcd.ErrRemoveSelf
	}
	return f.remove(id)
}

// remove applies the quorum rule the way Ops does, over healthy.
func (f *fakeEtcd) remove(id uint64) (etcd.MemberInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.members {
		if m.ID != id {
			continue
		}
		left := len(f.members) - 1
		if f.healthy < left/2+1 {
			return etcd.MemberInfo{}, fmt.Errorf("%w: %d healthy", etcd.ErrQuorum, f.healthy)
		}
		f.members = append(f.members[:i], f.members[i+1:]...)
		f.healthy--
		return m, nil
	}
	return etcd.MemberInfo{}, fmt.Errorf("%w: %x", etcd.ErrUnknownMember, id)
}

func etcdClient(t *testing.T, opts api.Options) func(role string) etcdv1connect.EtcdServiceClient {
	addr, client := tlsAPI(t, opts)
	return func(role string) etcdv1connect.EtcdServiceClient {
		return etcdv1connect.NewEtcdServiceClient(client(role), "https://"+addr, connect.WithGRPC())
	}
}

// receiveSnapshot reads a whole snapshot stream.
func receiveSnapshot(ctx context.Context, c etcdv1connect.EtcdServiceClient) ([]byte, *etcdv1.SnapshotSummary, int, error) {
	s, err := c.Snapshot(ctx, connect.NewRequest(&etcdv1.SnapshotRequest{}))
	if err != nil {
		return nil, nil, 0, err
	}
	defer s.Close()
	var buf bytes.Buffer
	var sum *etcdv1.SnapshotSummary
	msgs := 0
	for s.Receive() {
		msgs++
		buf.Write(s.Msg().GetData())
		if s.Msg().GetSummary() != nil {
			sum = s.Msg().GetSummary()
		}
	}
	return buf.Bytes(), sum, msgs, s.Err()
}

func TestEtcdRolesAndSnapshotStream(t *testing.T) {
	noLeaks(t)
	f := newFakeEtcd(t)
	client := etcdClient(t, api.Options{Etcd: f})
	reader, operator, admin := client(config.APIRoleReader), client(config.APIRoleOperator), client(config.APIRoleAdmin)
	ctx := t.Context()

	members, err := reader.Members(ctx, connect.NewRequest(&etcdv1.MembersRequest{}))
	require.NoError(t, err, "a reader lists members")
	require.Len(t, members.Msg.GetMembers(), 3)
	assert.Equal(t, "cp2", members.Msg.GetMembers()[1].GetName())
	st, err := reader.Status(ctx, connect.NewRequest(&etcdv1.StatusRequest{}))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Msg.GetLeaderId())
	alarms, err := reader.AlarmList(ctx, connect.NewRequest(&etcdv1.AlarmListRequest{}))
	require.NoError(t, err)
	require.Len(t, alarms.Msg.GetAlarms(), 1)
	assert.Equal(t, etcdv1.AlarmType_ALARM_TYPE_NOSPACE, alarms.Msg.GetAlarms()[0].GetType())

	// A reader may not take a snapshot (nor an operator), nor change
	// anything.
	for name, c := range map[string]etcdv1connect.EtcdServiceClient{"reader": reader, "operator": operator} {
		_, _, _, err := receiveSnapshot(ctx, c)
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "Snapshot as %s", name)
		assert.ErrorContains(t, err, "Snapshot needs os:admin")
		_, err = c.AlarmDisarm(ctx, connect.NewRequest(&etcdv1.AlarmDisarmRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "AlarmDisarm as %s", name)
		_, err = c.Leave(ctx, connect.NewRequest(&etcdv1.LeaveRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "Leave as %s", name)
		_, err = c.RemoveMember(ctx, connect.NewRequest(&etcdv1.RemoveMemberRequest{MemberId: 2}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "RemoveMember as %s", name)
	}
	_, err = reader.Defragment(ctx, connect.NewRequest(&etcdv1.DefragmentRequest{}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	_, err = reader.ForfeitLeadership(ctx, connect.NewRequest(&etcdv1.ForfeitLeadershipRequest{}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	def, err := operator.Defragment(ctx, connect.NewRequest(&etcdv1.DefragmentRequest{}))
	require.NoError(t, err, "an operator defragments")
	assert.Equal(t, int64(60), def.Msg.GetDbSizeAfter())
	fl, err := operator.ForfeitLeadership(ctx, connect.NewRequest(&etcdv1.ForfeitLeadershipRequest{}))
	require.NoError(t, err, "an operator hands leadership on")
	assert.Equal(t, "cp2", fl.Msg.GetLeaderName())

	// An admin gets the snapshot's bytes, in chunks, then the summary.
	data, sum, msgs, err := receiveSnapshot(ctx, admin)
	require.NoError(t, err)
	require.Equal(t, f.db, data)
	require.NotNil(t, sum)
	assert.Equal(t, int64(len(f.db)), sum.GetSize())
	assert.Equal(t, int64(42), sum.GetRevision())
	assert.Greater(t, msgs, 2, "the snapshot came in several messages")

	disarmed, err := admin.AlarmDisarm(ctx, connect.NewRequest(&etcdv1.AlarmDisarmRequest{}))
	require.NoError(t, err)
	assert.Len(t, disarmed.Msg.GetAlarms(), 1)

	// Membership: unknown IDs, this member and quorum are refused with
	// their codes.
	_, err = admin.RemoveMember(ctx, connect.NewRequest(&etcdv1.RemoveMemberRequest{MemberId: 9}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	_, err = admin.RemoveMember(ctx, connect.NewRequest(&etcdv1.RemoveMemberRequest{}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	_, err = admin.RemoveMember(ctx, connect.NewRequest(&etcdv1.RemoveMemberRequest{MemberId: 1}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "removed with leave")
	removed, err := admin.RemoveMember(ctx, connect.NewRequest(&etcdv1.RemoveMemberRequest{MemberId: 3}))
	require.NoError(t, err)
	assert.Equal(t, "cp3", removed.Msg.GetMember().GetName())
	f.healthy = 0 // the other member went down
	_, err = admin.Leave(ctx, connect.NewRequest(&etcdv1.LeaveRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "break etcd quorum")
}

// A node without etcd (a worker: no Ops; a control plane before its
// member started: an Ops without one) says so with failed_precondition.
func TestEtcdWithoutAMemberIsAFailedPrecondition(t *testing.T) {
	noLeaks(t)
	for name, opts := range map[string]api.Options{
		"worker":          {},
		"not started yet": {Etcd: etcd.NewOps("", nil)},
		"no certificate":  {Etcd: etcd.NewLocalOps(etcd.Layout{Dir: t.TempDir()}, "https://127.0.0.1:1")},
	} {
		t.Run(name, func(t *testing.T) {
			c := etcdClient(t, opts)(config.APIRoleAdmin)
			_, err := c.Status(t.Context(), connect.NewRequest(&etcdv1.StatusRequest{}))
			assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
			assert.ErrorContains(t, err, "this node runs no etcd member (workers do not; a control plane whose etcd has not started yet: see cairnctl get EtcdStatus)")
			_, _, _, err = receiveSnapshot(t.Context(), c)
			assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
		})
	}
}

// Through the real Ops and a real member, a snapshot streams whole and
// the status is this member's.
func TestEtcdOverARealMember(t *testing.T) {
	c := etcdtest.StartCluster(t, 1)
	ops := etcd.NewOps(c.Members[0].ClientURL(), c.ClientTLS(t))
	t.Cleanup(func() { _ = ops.Close() })
	cli := c.Client(t)
	put, err := cli.Put(t.Context(), "k", "v")
	require.NoError(t, err)

	admin := etcdClient(t, api.Options{Etcd: ops})(config.APIRoleAdmin)
	st, err := admin.Status(t.Context(), connect.NewRequest(&etcdv1.StatusRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "m1", st.Msg.GetName())
	assert.Equal(t, st.Msg.GetMemberId(), st.Msg.GetLeaderId())
	data, sum, _, err := receiveSnapshot(t.Context(), admin)
	require.NoError(t, err)
	require.NotNil(t, sum)
	assert.Equal(t, int64(len(data)), sum.GetSize())
	assert.Positive(t, sum.GetSize())
	assert.Equal(t, put.Header.Revision, sum.GetRevision())

	// Leaving as the only member is refused.
	_, err = admin.Leave(t.Context(), connect.NewRequest(&etcdv1.LeaveRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "last voting etcd member")
}

// staticMembers is a gossip view that knows each node's API address.
type staticMembers map[string]netip.AddrPort

func (s staticMembers) Members() []gossip.Member {
	var out []gossip.Member
	for name := range s {
		m, _ := s.Member(name)
		out = append(out, m)
	}
	return out
}

func (s staticMembers) Member(name string) (gossip.Member, bool) {
	addr, ok := s[name]
	return gossip.Member{Name: name, State: gossip.StateAlive, Meta: gossip.Meta{Name: name, APIAddr: addr}}, ok
}

// A call for another node (Cairn-Node, cairnctl -n) is proxied to that
// node's member, with the caller's role checked where it lands.
func TestEtcdCallsAreProxiedToTheNamedNode(t *testing.T) {
	noLeaks(t)
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	listeners := map[string]net.Listener{}
	members := staticMembers{}
	for _, name := range []string{"n1", "n2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[name] = ln
		members[name] = netip.MustParseAddrPort(ln.Addr().String())
	}
	n2 := newFakeEtcd(t)
	n2.self = 2
	for name, ops := range map[string]api.EtcdOps{"n1": nil, "n2": n2} {
		key, csr, err := pki.NewKeyAndCSR(name, []net.IP{net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		crt, err := pki.SignNode(ca, csr, time.Now())
		require.NoError(t, err)
		id, err := pki.NewIdentity(crt, key, []byte(ca.Crt))
		require.NoError(t, err)
		srv := api.New(api.Options{NodeName: name, Identity: id, Membership: members, Etcd: ops})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(listeners[name]) }()
		t.Cleanup(func() {
			require.NoError(t, srv.Shutdown(context.Background()))
			require.NoError(t, <-done)
		})
	}
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(ca.Crt)))
	client := func(role string) etcdv1connect.EtcdServiceClient {
		pair, err := config.GenerateAdminClientCert(ca, "test", []string{role}, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return etcdv1connect.NewEtcdServiceClient(&http.Client{Transport: tr}, "https://"+members["n1"].String(), connect.WithGRPC())
	}
	reader, admin := client(config.APIRoleReader), client(config.APIRoleAdmin)

	req := connect.NewRequest(&etcdv1.StatusRequest{})
	_, err = reader.Status(t.Context(), req)
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "n1 itself runs no member")
	req.Header().Set(api.HeaderNode, "n2")
	st, err := reader.Status(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.Msg.GetMemberId())

	snap := connect.NewRequest(&etcdv1.SnapshotRequest{})
	snap.Header().Set(api.HeaderNode, "n2")
	s, err := reader.Snapshot(t.Context(), snap)
	require.NoError(t, err)
	for s.Receive() {
	}
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(s.Err()), "the reader's role travels with the call")
	_ = s.Close()
	s, err = admin.Snapshot(t.Context(), snap)
	require.NoError(t, err)
	var got []byte
	for s.Receive() {
		got = append(got, s.Msg().GetData()...)
	}
	require.NoError(t, s.Err())
	_ = s.Close()
	assert.Equal(t, n2.db, got)
}
