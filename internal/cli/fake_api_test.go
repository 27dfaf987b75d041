package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func newFake(name string) *fakeNode {
	return &fakeNode{
		name:     name,
		config:   "apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\ncluster:\n  name: demo\n  kubernetes:\n    version: 1.37.2\n",
		revision: 7,
		members: []*clusterv1.Member{
			{Name: "cp1", Role: clusterv1.Role_ROLE_CONTROLPLANE, GossipState: clusterv1.GossipState_GOSSIP_STATE_ALIVE,
				RaftSuffrage: clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER, Leader: true, ApiAddress: "127.0.0.1:6440",
				AppliedConfigRevision: 7, Version: "dev"},
			{Name: "worker1", Role: clusterv1.Role_ROLE_WORKER, GossipState: clusterv1.GossipState_GOSSIP_STATE_ALIVE,
				RaftSuffrage: clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONE, AppliedConfigRevision: 6},
		},
	}
}

func TestGetMembersFailsOverToTheNextEndpoint(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", deadAddr(t)+","+addr, "get", "members")

	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, []string{"NAME", "ROLE", "STATE", "SUFFRAGE", "ETCD", "KUBERNETES", "KUBELET", "LEADER", "API-ADDRESS", "CONFIG-REV", "VERSION", "HEALTH"},
		strings.Fields(lines[0]))
	assert.Equal(t, []string{"cp1", "controlplane", "alive", "voter", "-", "-", "-", "yes", "127.0.0.1:6440", "7", "dev", "seen", "by", "cp1"},
		strings.Fields(lines[1]))
	assert.Equal(t, []string{"worker1", "worker", "alive", "none", "-", "-", "-", "no", "-", "6", "-", "seen", "by", "cp1"},
		strings.Fields(lines[2]))
}

func TestGetMembersWithNodesAsksEachNodeThroughTheEndpoint(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "-n", "cp1,worker1", "get", "members", "-o", "json")

	require.Equal(t, 0, r.code, r.stderr)
	assert.ElementsMatch(t, []string{"cp1", "worker1"}, f.seenTargets())
	var out struct {
		Members []map[string]any `json:"members"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.Len(t, out.Members, 4)
	for _, m := range out.Members {
		assert.Equal(t, "seen by "+m["node"].(string), m["health"])
	}
}

func TestGetMembersTableAddsNodeColumnWithNodes(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))

	r := runCLI(t, "-e", addr, "-n", "worker1", "get", "members")

	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	assert.Equal(t, "NODE", strings.Fields(lines[0])[0])
	assert.Equal(t, []string{"worker1", "cp1"}, strings.Fields(lines[1])[:2])
}

func TestConfigGetJSONHasNumericRevision(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))

	r := runCLI(t, "-e", addr, "config", "get", "-o", "json")

	require.Equal(t, 0, r.code, r.stderr)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	assert.Equal(t, "7", string(raw["revision"]))
	assert.Equal(t, "7", string(raw["version"]))
	assert.Contains(t, string(raw["config"]), "kind: ClusterConfig")

	plain := runCLI(t, "-e", addr, "config", "get")
	require.Equal(t, 0, plain.code, plain.stderr)
	assert.True(t, strings.HasPrefix(plain.stdout, "apiVersion: cairn.dev/v1alpha1\n"))
}

func TestConfigApplyPrintsRevisionAndJSON(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(f.config, "1.37.2", "1.38.0", 1)), 0o600))

	dry := runCLI(t, "-e", addr, "config", "apply", "-f", file, "--dry-run")
	require.Equal(t, 0, dry.code, dry.stderr)
	assert.Contains(t, dry.stdout, "+new")
	assert.Contains(t, dry.stdout, "dry run")

	r := runCLI(t, "-e", addr, "config", "apply", "-f", file, "--expected-revision", "7")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "applied revision 8\n", r.stdout)

	again := runCLI(t, "-e", addr, "config", "apply", "-f", file, "-o", "json")
	require.Equal(t, 0, again.code, again.stderr)
	assert.JSONEq(t, `{"revision":8,"changed":false,"diff":"-old\n+new\n","dryRun":false}`, again.stdout)

	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.applied, 3)
	assert.NotEmpty(t, f.applied[1].GetRequestId())
	assert.NotEqual(t, f.applied[1].GetRequestId(), f.applied[2].GetRequestId())
}

func TestConfigApplyFromStdin(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLIWithInput(t, "kind: changed\n", "-e", addr, "config", "apply", "-f", "-")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "kind: changed\n", f.config)
}

func TestConfigApplyReportsValidationErrorsOnePerLine(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	ce := connect.NewError(connect.CodeInvalidArgument, errConflictForTest)
	d, err := connect.NewErrorDetail(&clusterv1.ValidationErrors{Violations: []*clusterv1.FieldViolation{
		{Field: "cluster.kubernetes.version", Description: `"nope" is not a version like 1.37.2`},
		{Field: "nodes[1].name", Description: "is required"},
	}})
	require.NoError(t, err)
	ce.AddDetail(d)
	f.applyErrs = []error{ce}
	addr := serveFake(t, f)
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte("x: 1\n"), 0o600))

	r := runCLI(t, "-e", addr, "config", "apply", "-f", file)

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "\n  cluster.kubernetes.version: \"nope\" is not a version like 1.37.2\n")
	assert.Contains(t, r.stderr, "\n  nodes[1].name: is required\n")
}

func TestConfigApplyReportsRevisionConflictWithHint(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte("x: 1\n"), 0o600))

	r := runCLI(t, "-e", addr, "config", "apply", "-f", file, "--expected-revision", "3")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "expected revision 3, current revision 7")
	assert.Contains(t, r.stderr, "--expected-revision 7")
	assert.Contains(t, r.stderr, "without --expected-revision")
}

func TestConfigPatchMergesAndRetriesAfterAConflict(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.applyErrs = []error{conflictError(7, 8)}
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "config", "patch", "--patch", `{"cluster":{"kubernetes":{"version":"1.38.0"}}}`)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "retrying")
	assert.Equal(t, "applied revision 8\n", r.stdout)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.applied, 2)
	assert.Equal(t, uint64(7), f.applied[1].GetExpectedRevision())
	assert.Contains(t, f.config, "version: 1.38.0")
	assert.True(t, strings.HasPrefix(f.config, "apiVersion:"), "key order is kept:\n%s", f.config)
}

func TestConfigEditAppliesTheEditorsChange(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", "sed -i s/1.37.2/1.38.1/")

	r := runCLI(t, "-e", addr, "config", "edit")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "applied revision 8\n", r.stdout)
	assert.Contains(t, f.config, "1.38.1")

	t.Setenv("EDITOR", "true")
	unchanged := runCLI(t, "-e", addr, "config", "edit")
	require.Equal(t, 0, unchanged.code, unchanged.stderr)
	assert.Contains(t, unchanged.stdout, "no changes")
}

func TestVersionListsEachNode(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))

	r := runCLI(t, "-e", addr, "-n", "cp1,cp2", "version", "-o", "json")

	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Client struct{ Version string } `json:"client"`
		Nodes  []struct {
			NodeName string `json:"nodeName"`
			Version  string `json:"version"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.NotEmpty(t, out.Client.Version)
	require.Len(t, out.Nodes, 2)
	assert.Equal(t, "cp2", out.Nodes[1].NodeName)
	assert.Equal(t, "v9.9.9", out.Nodes[1].Version)
}

func TestVersionWithoutClusterStillPrintsTheClient(t *testing.T) {
	isolateHome(t)

	r := runCLI(t, "version")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Client:")
	assert.Contains(t, r.stderr, "no endpoints")
}

func TestCommandsWithoutEndpointsFailClearly(t *testing.T) {
	isolateHome(t)

	r := runCLI(t, "get", "members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no endpoints")
	assert.Contains(t, r.stderr, "cluster create")
}

func TestBadOutputFormatIsAUsageError(t *testing.T) {
	isolateHome(t)

	r := runCLI(t, "-o", "xml", "get", "members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--output")
}
