package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
)

// TestGossipKeyRotation rotates the gossip key of a running 3+1 cluster
// through the API, the way `cairnctl gossip rotate-key` does: install the
// new key everywhere, use it everywhere, store it in the config, remove the
// old one everywhere. Gossip keeps flowing throughout, and a member holding
// only the old key can no longer join.
func TestGossipKeyRotation(t *testing.T) {
	cfg := startNodes(t, 3, 1)
	admin := clientFor(t, cfg, config.APIRoleAdmin)
	entry := cfg.Nodes[len(cfg.Nodes)-1].APIEndpoint() // every call goes through the worker
	sec := securityv1connect.NewSecurityServiceClient(admin, "https://"+entry)
	cl := clusterv1connect.NewClusterServiceClient(admin, "https://"+entry)
	onNode := func(name string, msg any) {
		t.Helper()
		var err error
		switch m := msg.(type) {
		case *securityv1.InstallGossipKeyRequest:
			req := connect.NewRequest(m)
			req.Header().Set("Cairn-Node", name)
			_, err = sec.InstallGossipKey(context.Background(), req)
		case *securityv1.UseGossipKeyRequest:
			req := connect.NewRequest(m)
			req.Header().Set("Cairn-Node", name)
			_, err = sec.UseGossipKey(context.Background(), req)
		case *securityv1.RemoveGossipKeyRequest:
			req := connect.NewRequest(m)
			req.Header().Set("Cairn-Node", name)
			_, err = sec.RemoveGossipKey(context.Background(), req)
		}
		require.NoError(t, err, "%T on %s", msg, name)
	}
	var cur *clusterv1.GetConfigResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := cl.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{IncludeSecrets: true}))
		require.NoError(ct, err)
		cur = res.Msg
	}, 20*time.Second, 20*time.Millisecond)

	oldKey, _ := base64.StdEncoding.DecodeString(cfg.Secrets.GossipKey)
	newKey := make([]byte, gossip.KeySize)
	_, _ = rand.Read(newKey)
	newB64 := base64.StdEncoding.EncodeToString(newKey)

	for _, n := range cfg.Nodes {
		onNode(n.Name, &securityv1.InstallGossipKeyRequest{Key: newB64})
	}
	for _, n := range cfg.Nodes {
		onNode(n.Name, &securityv1.UseGossipKeyRequest{Key: newB64})
	}
	c, err := config.Parse([]byte(cur.Config))
	require.NoError(t, err)
	c.Secrets.GossipKey = newB64
	c.Cluster.Kubernetes.Version = "1.39.0"
	doc, err := c.Marshal(false)
	require.NoError(t, err)
	applied, err := cl.ApplyConfig(context.Background(), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: string(doc), ExpectedRevision: cur.Revision}))
	require.NoError(t, err)
	for _, n := range cfg.Nodes {
		onNode(n.Name, &securityv1.RemoveGossipKeyRequest{Key: cfg.Secrets.GossipKey})
	}

	// Every node speaks only the new key, and gossip still carries news:
	// every node's applied revision reaches the others.
	for _, n := range cfg.Nodes {
		req := connect.NewRequest(&securityv1.GossipKeyringRequest{})
		req.Header().Set("Cairn-Node", n.Name)
		kr, err := sec.GossipKeyring(context.Background(), req)
		require.NoError(t, err)
		assert.Equal(t, gossip.KeyID(newKey), kr.Msg.PrimaryKeyId, n.Name)
		assert.Equal(t, []string{gossip.KeyID(newKey)}, kr.Msg.KeyIds, n.Name)
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m, err := cl.Members(context.Background(), connect.NewRequest(&clusterv1.MembersRequest{}))
		require.NoError(ct, err)
		for _, mm := range m.Msg.Members {
			assert.Equal(ct, applied.Msg.Revision, mm.AppliedConfigRevision, mm.Name)
			assert.Equal(ct, clusterv1.GossipState_GOSSIP_STATE_ALIVE, mm.GossipState, mm.Name)
		}
	}, 20*time.Second, 20*time.Millisecond)
	stored, err := cl.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{IncludeSecrets: true}))
	require.NoError(t, err)
	assert.Contains(t, stored.Msg.Config, newB64, "new nodes boot from a config with the new key")

	// A member with only the old key is refused.
	gc := gossip.TestConfig()
	gc.Name, gc.ClusterID, gc.Key = "stale", cfg.Cluster.ID, oldKey
	gc.BindAddr = "127.0.0.1"
	gc.Meta = gossip.Meta{Role: gossip.RoleWorker}
	gc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	stale, err := gossip.New(gc)
	require.NoError(t, err)
	defer stale.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = stale.Join(ctx, cfg.SeedAddresses())
	require.Error(t, err, "joining with the old key")
	m, err := cl.Members(context.Background(), connect.NewRequest(&clusterv1.MembersRequest{}))
	require.NoError(t, err)
	for _, mm := range m.Msg.Members {
		assert.NotEqual(t, "stale", mm.Name)
	}
}

func TestKeyringPersists(t *testing.T) {
	dir := t.TempDir()
	a, b := make([]byte, gossip.KeySize), make([]byte, gossip.KeySize)
	_, _ = rand.Read(a)
	_, _ = rand.Read(b)
	k, err := loadKeyring(dir, a)
	require.NoError(t, err)
	assert.Empty(t, k.extra(), "without a file, the config's key is the only one")
	k.keys = append(k.keys, b)
	k.primary = b
	require.NoError(t, k.saveLocked())

	again, err := loadKeyring(dir, a)
	require.NoError(t, err)
	assert.Equal(t, b, again.primary, "a restart keeps the rotated primary, whatever the config says")
	assert.Equal(t, [][]byte{a}, again.extra())
	info, err := os.Stat(filepath.Join(dir, "gossip-keyring.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}
