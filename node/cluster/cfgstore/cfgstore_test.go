package cfgstore

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"))
}

// newStore starts a real single-voter Raft store on loopback.
func newStore(t testing.TB) *consensus.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s, err := consensus.Open(consensus.Config{
		NodeID: "n1", DataDir: t.TempDir(), BindAddr: addr, Timing: consensus.FastTiming(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Bootstrap([]consensus.Server{{ID: "n1", Address: addr}}))
	require.Eventually(t, s.IsLeader, 10*time.Second, 10*time.Millisecond)
	return s
}

func generated(t testing.TB) *config.Config {
	c, err := config.Generate(config.GenerateOptions{ClusterName: "test", ControlPlanes: 3, Workers: 1})
	require.NoError(t, err)
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func redacted(t testing.TB, c *config.Config, edit func(*config.Config)) []byte {
	t.Helper()
	cp := c.Redacted()
	if edit != nil {
		edit(&cp)
	}
	doc, err := cp.Marshal(false)
	require.NoError(t, err)
	return doc
}

func TestSeedIsIdempotent(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	_, err := Get(ctx(t), s, consensus.Linearizable)
	require.ErrorIs(t, err, ErrNotSeeded)
	require.NoError(t, Seed(ctx(t), s, c))
	first, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	require.NoError(t, Seed(ctx(t), s, c))
	other := generated(t)
	require.NoError(t, Seed(ctx(t), s, other), "a second seed never overwrites")
	again, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, first.Revision, again.Revision)
	assert.Equal(t, c.Cluster.ID, again.Config.Cluster.ID)
}

func TestApplyRedactedDocumentKeepsSecrets(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	require.NoError(t, Seed(ctx(t), s, c))
	cur, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)

	doc := redacted(t, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.0" })
	dry, err := Apply(ctx(t), s, doc, cur.Revision, true, "")
	require.NoError(t, err)
	assert.True(t, dry.Changed)
	assert.True(t, dry.DryRun)
	assert.Contains(t, dry.Diff, "1.38.0")
	assert.NotContains(t, dry.Diff, c.Secrets.GossipKey)
	still, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, cur.Revision, still.Revision, "a dry run stores nothing")

	res, err := Apply(ctx(t), s, doc, cur.Revision, false, "rid-1")
	require.NoError(t, err)
	assert.Greater(t, res.Revision, cur.Revision)
	got, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, "1.38.0", got.Config.Cluster.Kubernetes.Version)
	assert.Equal(t, c.Secrets, got.Config.Secrets, "redacted secrets keep their stored values")

	unchanged, err := Apply(ctx(t), s, doc, 0, false, "")
	require.NoError(t, err)
	assert.False(t, unchanged.Changed)
	assert.Equal(t, res.Revision, unchanged.Revision)
}

func TestApplyConflictAndValidation(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	require.NoError(t, Seed(ctx(t), s, c))
	cur, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	_, err = Apply(ctx(t), s, redacted(t, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.1" }), cur.Revision, false, "")
	require.NoError(t, err)

	_, err = Apply(ctx(t), s, redacted(t, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.2" }), cur.Revision, false, "")
	var rc *RevisionConflictError
	require.ErrorAs(t, err, &rc)
	assert.Equal(t, cur.Revision, rc.Expected)
	assert.Greater(t, rc.Current, cur.Revision)

	for name, tc := range map[string]struct {
		edit  func(*config.Config)
		field string
	}{
		"cluster id":   {func(c *config.Config) { c.Cluster.ID = strings.Repeat("a", 32) }, "cluster.id"},
		"cluster name": {func(c *config.Config) { c.Cluster.Name = "renamed" }, "cluster.name"},
		"secrets":      {func(c *config.Config) { c.Secrets.JoinToken = "abcdef.0123456789abcdef" }, "secrets"},
		"bad cidr":     {func(c *config.Config) { c.Cluster.Network.PodCIDR = "nope" }, "cluster.network.podCIDR"},
	} {
		t.Run(name, func(t *testing.T) {
			before, err := Get(ctx(t), s, consensus.Linearizable)
			require.NoError(t, err)
			_, err = Apply(ctx(t), s, redacted(t, c, tc.edit), 0, false, "")
			var ve *config.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.Fields(), tc.field)
			after, err := Get(ctx(t), s, consensus.Linearizable)
			require.NoError(t, err)
			assert.Equal(t, before.Revision, after.Revision)
		})
	}
}

// A stored config from before the etcd CA existed may gain one by apply;
// once it has one, apply cannot replace it.
func TestApplyAddsEtcdCAOnceOnly(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	etcdCA := c.Secrets.EtcdCA
	old := *c
	old.Secrets.EtcdCA = config.CertKeyPair{}
	require.NoError(t, Seed(ctx(t), s, &old))

	_, err := Apply(ctx(t), s, redacted(t, &old, nil), 0, false, "")
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve, "the stored config lacks an etcd CA, so an apply must add one")
	assert.Equal(t, []string{"secrets.etcdCA.crt", "secrets.etcdCA.key"}, ve.Fields())

	full, err := c.Marshal(false)
	require.NoError(t, err)
	_, err = Apply(ctx(t), s, full, 0, false, "")
	require.NoError(t, err)
	got, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, etcdCA, got.Config.Secrets.EtcdCA)

	other, err := config.NewEtcdCA(nil, "test", time.Now())
	require.NoError(t, err)
	_, err = Apply(ctx(t), s, redacted(t, c, func(c *config.Config) { c.Secrets.EtcdCA = other }), 0, false, "")
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, []string{"secrets.etcdCA"}, ve.Fields())
	assert.NotContains(t, err.Error(), other.Key)
}

// The same rule holds for the Kubernetes CAs and the service account key:
// a stored config without them may gain them; once set, apply cannot
// replace them.
func TestApplyAddsKubernetesSecretsOnceOnly(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	old := *c
	old.Cluster.Kubernetes.Disabled = true
	old.Secrets.KubernetesCA, old.Secrets.FrontProxyCA, old.Secrets.ServiceAccountKey = config.CertKeyPair{}, config.CertKeyPair{}, ""
	require.NoError(t, Seed(ctx(t), s, &old))

	full, err := c.Marshal(false)
	require.NoError(t, err)
	_, err = Apply(ctx(t), s, full, 0, false, "")
	require.NoError(t, err, "enabling Kubernetes adds its secrets")
	got, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, c.Secrets.KubernetesCA, got.Config.Secrets.KubernetesCA)
	assert.Equal(t, c.Secrets.FrontProxyCA, got.Config.Secrets.FrontProxyCA)
	assert.Equal(t, c.Secrets.ServiceAccountKey, got.Config.Secrets.ServiceAccountKey)

	otherCA, err := config.NewKubernetesCA(nil, "test", time.Now())
	require.NoError(t, err)
	otherProxy, err := config.NewFrontProxyCA(nil, "test", time.Now())
	require.NoError(t, err)
	otherSA, err := config.NewServiceAccountKey(nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		field string
		edit  func(*config.Config)
	}{
		{"secrets.kubernetesCA", func(c *config.Config) { c.Secrets.KubernetesCA = otherCA }},
		{"secrets.frontProxyCA", func(c *config.Config) { c.Secrets.FrontProxyCA = otherProxy }},
		{"secrets.serviceAccountKey", func(c *config.Config) { c.Secrets.ServiceAccountKey = otherSA }},
		{"secrets.serviceAccountKey", func(c *config.Config) {
			c.Cluster.Kubernetes.Disabled = true
			c.Secrets.ServiceAccountKey = ""
		}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := Apply(ctx(t), s, redacted(t, c, tc.edit), 0, false, "")
			var ve *config.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, []string{tc.field}, ve.Fields())
			for _, secret := range []string{otherCA.Key, otherProxy.Key, otherSA} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	after, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, got.Revision, after.Revision, "no refused apply was stored")
}

// A retry of an apply whose first attempt was committed (the client saw an
// unknown outcome) must get that write's revision, not a conflict with
// itself; the same request ID with another document is refused.
func TestApplyRetryWithSameRequestIDGetsOriginalOutcome(t *testing.T) {
	s := newStore(t)
	c := generated(t)
	require.NoError(t, Seed(ctx(t), s, c))
	cur, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	doc := redacted(t, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.3" })

	first, err := Apply(ctx(t), s, doc, cur.Revision, false, "rid-retry")
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	retry, err := Apply(ctx(t), s, doc, cur.Revision, false, "rid-retry")
	require.NoError(t, err, "the identical retry is the same write")
	assert.Equal(t, first.Revision, retry.Revision)
	assert.True(t, retry.Changed)
	assert.True(t, retry.Duplicate)

	other := redacted(t, c, func(c *config.Config) { c.Cluster.Kubernetes.Version = "1.38.4" })
	_, err = Apply(ctx(t), s, other, 0, false, "rid-retry")
	require.ErrorIs(t, err, consensus.ErrRequestIDReused)

	again, err := Get(ctx(t), s, consensus.Linearizable)
	require.NoError(t, err)
	assert.Equal(t, first.Revision, again.Revision, "neither retry wrote")
}
