package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	"github.com/cairn-project/cairn/node/machine/etcd"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
)

// leaderless is a member that answers but follows no leader: etcd lost
// its quorum.
type leaderless struct{ *fakeEtcd }

func (leaderless) Status(context.Context) (etcd.MemberStatus, error) {
	return etcd.MemberStatus{MemberID: 1, Errors: []string{"etcdserver: no leader"}}, nil
}

// follower is the Raft store as a follower sees it: cp2 leads.
type follower struct{ api.RecoveryStore }

func (follower) IsLeader() bool            { return false }
func (follower) Leader() (id, addr string) { return "cp2.0123456789ab", "127.0.0.2:6441" }

// realSnapshot is a snapshot of a real etcd member holding key a.
func realSnapshot(t *testing.T) []byte {
	t.Helper()
	c := etcdtest.StartCluster(t, 1)
	_, err := c.Client(t).Put(t.Context(), "a", "1")
	require.NoError(t, err)
	ops := etcd.NewOps(c.Members[0].ClientURL(), c.ClientTLS(t))
	t.Cleanup(func() { _ = ops.Close() })
	var buf bytes.Buffer
	_, err = ops.Snapshot(t.Context(), &buf)
	require.NoError(t, err)
	return buf.Bytes()
}

// sendRecover uploads data in chunks of 100 KiB after start.
func sendRecover(ctx context.Context, c etcdv1connect.EtcdServiceClient, start *etcdv1.RecoverStart, data []byte) (*etcdv1.RecoverResponse, error) {
	return sendRecoverChunks(ctx, c, start, data, 100<<10)
}

func sendRecoverChunks(ctx context.Context, c etcdv1connect.EtcdServiceClient, start *etcdv1.RecoverStart, data []byte, chunk int) (*etcdv1.RecoverResponse, error) {
	s := c.Recover(ctx)
	msg := &etcdv1.RecoverRequest{Start: start}
	for off := 0; off < len(data) || msg.Start != nil; off += chunk {
		msg.Data = data[off:min(off+chunk, len(data))]
		if err := s.Send(msg); err != nil {
			break // the server answered early; CloseAndReceive says why
		}
		msg = &etcdv1.RecoverRequest{}
	}
	res, err := s.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func TestEtcdRecover(t *testing.T) {
	snap := realSnapshot(t)
	store := openStore(t, 0)
	self := etcdboot.Member{Name: "cp1", PeerURL: "https://127.0.0.1:2380", StateID: "0123456789abcdef"}
	_, err := etcdboot.Decide(t.Context(), store, self)
	require.NoError(t, err)
	layout := etcd.Layout{Dir: filepath.Join(t.TempDir(), "etcd")}
	member := &leaderless{newFakeEtcd(t)}
	rec := &api.EtcdRecovery{Store: store, Self: self, Layout: layout}
	admin := etcdClient(t, api.Options{Etcd: member, EtcdRecovery: rec})(config.APIRoleAdmin)
	ctx := t.Context()
	unchanged := func(t *testing.T) {
		t.Helper()
		cur, err := etcdboot.Get(ctx, store)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), cur.Generation, "the record is unchanged")
		assert.NoFileExists(t, layout.SnapshotFile())
		assert.NoFileExists(t, layout.SnapshotFile()+".part")
	}

	t.Run("RefusedBelowAdmin", func(t *testing.T) {
		op := etcdClient(t, api.Options{Etcd: member, EtcdRecovery: rec})(config.APIRoleOperator)
		_, err := sendRecover(ctx, op, &etcdv1.RecoverStart{}, snap)
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
		unchanged(t)
	})
	t.Run("RefusedOnAFollower", func(t *testing.T) {
		c := etcdClient(t, api.Options{Etcd: member, EtcdRecovery: &api.EtcdRecovery{Store: follower{store}, Self: self, Layout: layout}})(config.APIRoleAdmin)
		_, err := sendRecover(ctx, c, &etcdv1.RecoverStart{}, snap)
		assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
		assert.ErrorContains(t, err, api.ErrRecoverNotLeader.Error())
		assert.ErrorContains(t, err, "cp2 is")
		unchanged(t)
	})
	t.Run("RefusedWhileEtcdHasAQuorum", func(t *testing.T) {
		c := etcdClient(t, api.Options{Etcd: newFakeEtcd(t), EtcdRecovery: rec})(config.APIRoleAdmin)
		_, err := sendRecover(ctx, c, &etcdv1.RecoverStart{}, snap)
		assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
		assert.ErrorContains(t, err, "loses every write made after it")
		unchanged(t)
	})
	t.Run("RefusesWhatIsNoSnapshot", func(t *testing.T) {
		noHash := snap[:len(snap)-sha256.Size] // a bbolt file without etcd's hash
		sum := sha256.Sum256([]byte("garbage"))
		garbage := append([]byte("garbage"), sum[:]...) // hash right, no database
		for name, data := range map[string][]byte{"empty": nil, "text": []byte("not a snapshot\n"), "no hash": noHash, "no database": garbage} {
			_, err := sendRecover(ctx, admin, &etcdv1.RecoverStart{}, data)
			assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), name)
			assert.ErrorContains(t, err, api.ErrNotEtcdSnapshot.Error(), name)
		}
		unchanged(t)
	})
	t.Run("RefusesAStaleGeneration", func(t *testing.T) {
		_, err := sendRecover(ctx, admin, &etcdv1.RecoverStart{ExpectedGeneration: 7}, snap)
		assert.Equal(t, connect.CodeAborted, connect.CodeOf(err))
		assert.ErrorContains(t, err, "current generation is 1")
		unchanged(t)
	})
	t.Run("Recovers", func(t *testing.T) {
		res, err := sendRecover(ctx, admin, &etcdv1.RecoverStart{ExpectedGeneration: 1}, snap)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), res.GetGeneration())
		assert.Equal(t, "cp1", res.GetRestoreNode())
		sum, size, err := etcd.FileSHA256(layout.SnapshotFile())
		require.NoError(t, err)
		assert.Equal(t, sum, res.GetSnapshotSha256())
		assert.Equal(t, int64(len(snap)), size)
		assert.Equal(t, size, res.GetSnapshotSize())
		got, err := os.ReadFile(layout.SnapshotFile())
		require.NoError(t, err)
		assert.Equal(t, snap, got)

		cur, err := etcdboot.Get(ctx, store)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), cur.Generation)
		assert.Equal(t, []etcdboot.Member{self}, cur.InitialMembers)
		assert.Equal(t, &etcdboot.Snapshot{Node: "cp1", SHA256: sum, Size: size}, cur.RestoreFrom)
		assert.Len(t, cur.PreviousTokenHashes, 1)
	})
	t.Run("ForceRecoversAWorkingCluster", func(t *testing.T) {
		c := etcdClient(t, api.Options{Etcd: newFakeEtcd(t), EtcdRecovery: rec})(config.APIRoleAdmin)
		// Chunks shorter than etcd's trailing hash, which the check holds
		// back across messages.
		res, err := sendRecoverChunks(ctx, c, &etcdv1.RecoverStart{Force: true}, snap, 13)
		require.NoError(t, err)
		assert.Equal(t, uint64(3), res.GetGeneration(), "0 recovers the current generation")
		sum := sha256.Sum256(snap)
		assert.Equal(t, hex.EncodeToString(sum[:]), res.GetSnapshotSha256())
	})
}

func TestEtcdRecoverWithoutRecoveryIsAFailedPrecondition(t *testing.T) {
	admin := etcdClient(t, api.Options{})(config.APIRoleAdmin)
	_, err := sendRecover(t.Context(), admin, &etcdv1.RecoverStart{}, []byte("x"))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
}
