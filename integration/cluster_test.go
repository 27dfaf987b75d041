package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// TestLocalCluster drives one 3+2 cluster through the walking skeleton's
// promises. The subtests share the cluster only to save creating it: each
// sets up what it needs (a healthy cluster, fresh PIDs, a config value that
// differs from the current one) and undoes what it changes, so any one of
// them passes alone (go test ./integration -run 'TestLocalCluster/NAME').
// The leader kill is destructive and comes last.
func TestLocalCluster(t *testing.T) {
	c := createCluster(t, "it", 3, 2)
	require.Len(t, c.byRole("controlplane"), 3)
	require.Len(t, c.byRole("worker"), 2)

	t.Run("every node serves GetConfig at one revision", func(t *testing.T) {
		c.requireHealthy(t)
		revs := map[string]string{}
		for _, n := range c.state.Nodes {
			out, err := c.bufCurl("--protocol", "grpc", "https://"+n.APIAddress+"/cairn.cluster.v1.ClusterService/GetConfig")
			require.NoError(t, err, out)
			var res struct {
				Config   string `json:"config"`
				Revision string `json:"revision"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &res), out)
			require.NotEmpty(t, res.Revision, out)
			assert.Contains(t, res.Config, "kind: ClusterConfig")
			assert.Contains(t, res.Config, "***redacted***", "secrets are redacted by default")
			revs[n.Name] = res.Revision
		}
		first := revs[c.state.Nodes[0].Name]
		for name, rev := range revs {
			assert.Equal(t, first, rev, "revision on %s", name)
		}
	})

	t.Run("reflection lists the services and health says SERVING", func(t *testing.T) {
		for _, n := range []nodeState{c.byRole("controlplane")[0], c.byRole("worker")[0]} {
			out, err := c.bufCurl("--protocol", "grpc", "--list-services", "https://"+n.APIAddress)
			require.NoError(t, err, out)
			assert.Contains(t, out, "cairn.cluster.v1.ClusterService")
			assert.Contains(t, out, "cairn.machine.v1.MachineService")
			out, err = c.bufCurl("--protocol", "grpc", "https://"+n.APIAddress+"/grpc.health.v1.Health/Check")
			require.NoError(t, err, out)
			assert.Contains(t, out, `"SERVING"`)
		}
	})

	t.Run("machine info", func(t *testing.T) {
		out, err := c.ctl("-n", "worker1", "ps")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cairnd", "process mode lists cairnd itself")
		out, err = c.ctl("-n", "worker1", "mounts")
		require.NoError(t, err, out)
		assert.Regexp(t, `(?m)^worker1\s+\S+\s+/`, out, "at least one mount")
	})

	t.Run("cairnctl shows node resources and services through one endpoint", func(t *testing.T) {
		worker := c.byRole("worker")[0]
		out, err := c.ctl("-n", worker.Name, "get", "ConfigStatus", "applied", "-o", "yaml")
		require.NoError(t, err, out)
		assert.Contains(t, out, "revision:")
		assert.Contains(t, out, "node: "+worker.Name)
		out, err = c.ctl("-n", worker.Name, "get", "links")
		require.NoError(t, err, out)
		assert.Contains(t, out, " lo ", "the worker observes its kernel's links")
		out, err = c.ctl("services")
		require.NoError(t, err, out)
		out, err = c.ctl("get", "nosuchtype", "x")
		require.Error(t, err, out)
	})

	t.Run("cluster resources", func(t *testing.T) {
		worker := c.byRole("worker")[0]
		// The worker is the endpoint: it holds no replica and forwards the
		// read to the leader.
		out, err := c.ctl("-e", worker.APIAddress, "get", "ClusterConfig", "-o", "yaml")
		require.NoError(t, err, out)
		var got struct {
			Resources []struct {
				Type, ID string
				Version  uint64
				Spec     map[string]any
			}
		}
		require.NoError(t, yaml.Unmarshal([]byte(out), &got), out)
		require.Len(t, got.Resources, 1, out)
		assert.Equal(t, "ClusterConfig", got.Resources[0].Type)
		assert.Equal(t, "cluster", got.Resources[0].ID)
		assert.Equal(t, "ClusterConfig", got.Resources[0].Spec["kind"], out)
		assert.Contains(t, out, "***redacted***", "secrets are redacted")
		assert.NotContains(t, out, "PRIVATE KEY", "no private key")

		out, err = c.ctl("-e", worker.APIAddress, "get", "rd")
		require.NoError(t, err, out)
		scopes := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 1 {
				scopes[f[1]] = f[0]
			}
		}
		assert.Equal(t, "cluster", scopes["ClusterConfig"], out)
		assert.Equal(t, "node", scopes["ReceivedConfig"], out)
		assert.Equal(t, "node", scopes["ConfigStatus"], out)
	})

	t.Run("cairnd logs", func(t *testing.T) {
		worker := c.byRole("worker")[0]
		out, err := c.ctl("logs", "cairnd", "-n", worker.Name, "--tail", "5")
		require.NoError(t, err, out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.NotEmpty(t, lines, out)
		assert.LessOrEqual(t, len(lines), 5, out)
		assert.Contains(t, out, "node="+worker.Name, "the lines are the worker's own")
		out, err = c.ctl("-n", worker.Name, "services")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cairnd", "the node itself is listed")

		out, err = c.ctl("-n", worker.Name, "log-level", "debug")
		require.NoError(t, err, out)
		assert.Equal(t, []string{worker.Name, "debug", "info"}, strings.Fields(strings.Split(out, "\n")[1]), out)
		t.Cleanup(func() {
			if out, err := c.ctl("-n", worker.Name, "log-level", "info"); err != nil {
				t.Errorf("reset log level: %v\n%s", err, out)
			}
		})
		// At debug the API logs each log stream it opens, before it opens
		// it, so this very read shows a debug line of the worker's.
		out, err = c.ctl("logs", "cairnd", "-n", worker.Name, "--tail", "20")
		require.NoError(t, err, out)
		assert.Contains(t, out, `level=DEBUG msg="log stream opened" node=`+worker.Name, out)
	})

	t.Run("ApplyConfig sent to a worker reaches every node", func(t *testing.T) {
		c.requireHealthy(t)
		worker := c.byRole("worker")[0]
		cur := c.getConfig(t, worker.APIAddress, false)
		doc, version := otherKubernetesVersion(t, cur.Config)
		res, err := c.client(worker.APIAddress).ApplyConfig(ctxT(t, 10*time.Second), connect.NewRequest(&clusterv1.ApplyConfigRequest{
			Config: doc, ExpectedRevision: cur.Revision,
		}))
		require.NoError(t, err)
		require.True(t, res.Msg.Changed)
		require.Greater(t, res.Msg.Revision, cur.Revision)
		assert.Contains(t, res.Msg.Diff, version)

		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			for _, n := range c.state.Nodes {
				got := c.getConfig(t, n.APIAddress, n.Role == "controlplane")
				assert.Equal(ct, res.Msg.Revision, got.Revision, n.Name)
				assert.Contains(ct, got.Config, version, n.Name)
			}
			members, err := c.client(worker.APIAddress).Members(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.MembersRequest{}))
			require.NoError(ct, err)
			require.Len(ct, members.Msg.Members, 5)
			for _, m := range members.Msg.Members {
				assert.Equal(ct, res.Msg.Revision, m.AppliedConfigRevision, "applied revision of %s", m.Name)
			}
		}, 20*time.Second, 50*time.Millisecond)

		// A stale expected revision is a conflict carrying the current one.
		_, err = c.client(worker.APIAddress).ApplyConfig(ctxT(t, 10*time.Second), connect.NewRequest(&clusterv1.ApplyConfigRequest{
			Config: doc, ExpectedRevision: cur.Revision,
		}))
		var ce *connect.Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, connect.CodeAborted, ce.Code())
		conflict := detail[*clusterv1.RevisionConflict](t, ce)
		assert.Equal(t, res.Msg.Revision, conflict.CurrentRevision)
	})

	t.Run("invalid configs are rejected with field paths and change nothing", func(t *testing.T) {
		cp := c.byRole("controlplane")[0]
		before := c.getConfig(t, cp.APIAddress, false)
		for _, tc := range invalidConfigs(c) {
			t.Run(tc.name, func(t *testing.T) {
				doc := tc.doc(t, before.Config)
				_, err := c.client(cp.APIAddress).ApplyConfig(ctxT(t, 10*time.Second), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc}))
				var ce *connect.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, connect.CodeInvalidArgument, ce.Code(), ce.Message())
				if tc.field == "" {
					return // not a document at all: no field to name
				}
				v := detail[*clusterv1.ValidationErrors](t, ce)
				var fields []string
				for _, fv := range v.Violations {
					fields = append(fields, fv.Field)
				}
				assert.Contains(t, fields, tc.field, "violations: %v", v.Violations)
			})
		}
		after := c.getConfig(t, cp.APIAddress, false)
		assert.Equal(t, before.Revision, after.Revision)
		assert.Equal(t, before.Config, after.Config)
	})

	t.Run("cairnctl rotates the gossip key on every node without a partition", func(t *testing.T) {
		c.requireHealthy(t)
		before, err := c.ctl("gossip", "keyring", "-o", "json")
		require.NoError(t, err, before)
		out, err := c.ctl("gossip", "rotate-key")
		require.NoError(t, err, out)
		assert.Contains(t, out, "remove the old key on 5 nodes")
		after, err := c.ctl("gossip", "keyring", "-o", "json")
		require.NoError(t, err, after)
		var kr struct {
			Nodes []struct {
				Node    string   `json:"node"`
				Primary string   `json:"primary"`
				Keys    []string `json:"keys"`
			} `json:"nodes"`
		}
		require.NoError(t, json.Unmarshal([]byte(after), &kr), after)
		require.Len(t, kr.Nodes, 5)
		for _, n := range kr.Nodes {
			assert.Equal(t, []string{n.Primary}, n.Keys, n.Node)
			assert.Equal(t, kr.Nodes[0].Primary, n.Primary, n.Node)
			assert.NotContains(t, before, n.Primary, "a new key")
		}
		out, err = c.ctl("health", "--wait", "--wait-timeout", "30s")
		require.NoError(t, err, "gossip converged on the new key:\n%s", out)
	})

	t.Run("SIGKILL of the leader leaves a cluster that takes writes", func(t *testing.T) {
		c.requireHealthy(t)
		c.refresh() // PIDs as of now: a restarted node has a new one
		cp := c.byRole("controlplane")[0]
		st, err := c.client(cp.APIAddress).ConsensusStatus(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
		require.NoError(t, err)
		leader := c.node(st.Msg.LeaderName)
		require.Positive(t, leader.PID, "%s has no running cairnd", leader.Name)
		require.NoError(t, syscall.Kill(leader.PID, syscall.SIGKILL))

		var survivor nodeState
		for _, n := range c.byRole("controlplane") {
			if n.Name != leader.Name {
				survivor = n
			}
		}
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			cur, err := c.client(survivor.APIAddress).GetConfig(ctxT(t, 2*time.Second), connect.NewRequest(&clusterv1.GetConfigRequest{}))
			require.NoError(ct, err)
			doc, _ := otherKubernetesVersion(t, cur.Msg.Config)
			res, err := c.client(survivor.APIAddress).ApplyConfig(ctxT(t, 2*time.Second), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc}))
			require.NoError(ct, err)
			assert.True(ct, res.Msg.Changed, "a write, not a no-op")
		}, 30*time.Second, 50*time.Millisecond)
		// How soon the write is accepted is BenchmarkCluster's
		// kill-to-write-s; this test asserts only that it is.
	})
}

// otherKubernetesVersion returns doc with cluster.kubernetes.version set to
// a version it does not hold yet, and that version, so that applying it is
// a change whatever an earlier test applied.
func otherKubernetesVersion(t testing.TB, doc string) (string, string) {
	t.Helper()
	version := "1.37.3"
	out := mutate(t, doc, func(m map[string]any) {
		cluster := m["cluster"].(map[string]any)
		if k, ok := cluster["kubernetes"].(map[string]any); ok && k["version"] == version {
			version = "1.37.4"
		}
		setKubernetesVersion(m, version)
	})
	return out, version
}

// setKubernetesVersion sets cluster.kubernetes.version in a decoded config
// document and keeps the rest of the section: the harness's clusters run
// with Kubernetes disabled (kubernetesOff), which a version change must not
// undo, or the nodes would be asked to run a version they do not ship.
func setKubernetesVersion(m map[string]any, version string) {
	cluster := m["cluster"].(map[string]any)
	k, ok := cluster["kubernetes"].(map[string]any)
	if !ok {
		k = map[string]any{}
		cluster["kubernetes"] = k
	}
	k["version"] = version
}

// requireHealthy waits until `cairnctl health` passes: every node up and in
// gossip, one leader, the configured voters. Subtests that need the whole
// cluster start with it, so none depends on an earlier one having left the
// cluster whole.
func (c *localCluster) requireHealthy(t *testing.T) {
	t.Helper()
	out, err := c.ctl("health", "--wait", "--wait-timeout", "60s")
	require.NoError(t, err, "cluster not healthy:\n%s", out)
}

// mutate edits a YAML config document as generic maps.
func mutate(t testing.TB, doc string, fn func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	fn(m)
	out, err := yaml.Marshal(m)
	require.NoError(t, err)
	return string(out)
}

// detail returns the first error detail of type T.
func detail[T any](t testing.TB, ce *connect.Error) T {
	t.Helper()
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if got, ok := v.(T); ok {
			return got
		}
	}
	var zero T
	t.Fatalf("no %T detail in %v", zero, ce)
	return zero
}

type invalidConfig struct {
	name  string
	field string
	doc   func(t *testing.T, valid string) string
}

func edit(fn func(m map[string]any)) func(t *testing.T, valid string) string {
	return func(t *testing.T, valid string) string { return mutate(t, valid, fn) }
}

func section(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func nodeAt(m map[string]any, i int) map[string]any { return m["nodes"].([]any)[i].(map[string]any) }

// invalidConfigs are distinct ways to get a config wrong, each with the
// field path the rejection must name.
func invalidConfigs(c *localCluster) []invalidConfig {
	worker := 0
	for i, n := range c.state.Nodes {
		if n.Role == "worker" {
			worker = i
			break
		}
	}
	return []invalidConfig{
		{"bad pod CIDR", "cluster.network.podCIDR", edit(func(m map[string]any) { section(m, "cluster", "network")["podCIDR"] = "10.244.0.0/33" })},
		{"overlapping service CIDR", "cluster.network.serviceCIDR", edit(func(m map[string]any) { section(m, "cluster", "network")["serviceCIDR"] = "10.244.128.0/17" })},
		{"unknown field", "cluster.bogus", edit(func(m map[string]any) { section(m, "cluster")["bogus"] = true })},
		{"duplicate node name", "nodes[1].name", edit(func(m map[string]any) { nodeAt(m, 1)["name"] = nodeAt(m, 0)["name"] })},
		{"missing secret", "secrets.joinToken", edit(func(m map[string]any) { section(m, "secrets")["joinToken"] = "" })},
		{"wrong apiVersion", "apiVersion", edit(func(m map[string]any) { m["apiVersion"] = "cairn.dev/v9" })},
		{"wrong kind", "kind", edit(func(m map[string]any) { m["kind"] = "MachineConfig" })},
		{"expect below one", "cluster.controlPlane.expect", edit(func(m map[string]any) { section(m, "cluster", "controlPlane")["expect"] = 0 })},
		{"bad API address", "nodes[0].apiAddress", edit(func(m map[string]any) { nodeAt(m, 0)["apiAddress"] = "not-an-address" })},
		{"raft address on a worker", fmt.Sprintf("nodes[%d].raftAddress", worker), edit(func(m map[string]any) { nodeAt(m, worker)["raftAddress"] = "127.0.0.1:6442" })},
		{"unknown role", "nodes[0].role", edit(func(m map[string]any) { nodeAt(m, 0)["role"] = "boss" })},
		{"bad MTU", "nodes[0].network.links[0].mtu", edit(func(m map[string]any) {
			nodeAt(m, 0)["network"] = map[string]any{"links": []any{map[string]any{"name": "eth0", "mtu": 10}}}
		})},
		{"bad seed", "cluster.seeds[0]", edit(func(m map[string]any) { section(m, "cluster")["seeds"] = []any{"nohost"} })},
		{"not YAML at all", "", func(*testing.T, string) string { return "{{{ not yaml" }},
	}
}
