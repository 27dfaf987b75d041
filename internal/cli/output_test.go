package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/node/cluster/health"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func TestProtoObjectMatchesProtojsonNamesWithNumericInt64(t *testing.T) {
	m := &clusterv1.Member{
		Name: "cp1", Role: clusterv1.Role_ROLE_CONTROLPLANE, GossipState: clusterv1.GossipState_GOSSIP_STATE_ALIVE,
		AppliedConfigRevision: 18446744073709551615, Leader: true,
	}

	js, err := json.Marshal(protoObject(m))

	require.NoError(t, err)
	assert.Equal(t, `{"name":"cp1","role":"ROLE_CONTROLPLANE","apiAddress":"","raftAddress":"","gossipAddress":"",`+
		`"gossipState":"GOSSIP_STATE_ALIVE","raftSuffrage":"RAFT_SUFFRAGE_UNSPECIFIED",`+
		`"appliedConfigRevision":18446744073709551615,"version":"","slot":"","health":"","leader":true,"etcd":"","kubernetes":"","kubelet":"","podCidr":""}`, string(js))
}

func TestProtoObjectListsTimestampsAndUnsetMessages(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &clusterv1.ConsensusStatusResponse{NodeName: "cp1", Term: 3, Servers: []*clusterv1.RaftServer{
		{Name: "cp1", LastContact: timestamppb.New(ts)},
		{Name: "cp2"},
	}}

	js, err := json.Marshal(protoObject(s))
	require.NoError(t, err)

	var got struct {
		Term    json.Number `json:"term"`
		Servers []struct {
			LastContact *string `json:"lastContact"`
			Suffrage    string  `json:"suffrage"`
		} `json:"servers"`
	}
	require.NoError(t, json.Unmarshal(js, &got))
	assert.Equal(t, json.Number("3"), got.Term)
	require.Len(t, got.Servers, 2)
	assert.Equal(t, "2026-01-02T03:04:05Z", *got.Servers[0].LastContact)
	assert.Nil(t, got.Servers[1].LastContact)
	assert.Equal(t, "RAFT_SUFFRAGE_UNSPECIFIED", got.Servers[1].Suffrage)

	empty, err := json.Marshal(protoObject(&clusterv1.ConsensusStatusResponse{}))
	require.NoError(t, err)
	assert.Contains(t, string(empty), `"servers":[]`)
}

func TestOrderedObjectWithPutsNewKeysFirst(t *testing.T) {
	o := orderedObject{{"a", 1}, {"b", 2}}
	o = o.with("b", 3).with("node", "cp1")
	js, err := json.Marshal(o)
	require.NoError(t, err)
	assert.Equal(t, `{"node":"cp1","a":1,"b":3}`, string(js))
}

func TestWriteDataYAMLKeepsOrderAndBlockStrings(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeData(&b, outputYAML, configDoc{Revision: 5, Version: 2, Config: "a: 1\nb: 2\n"}))
	assert.Equal(t, "revision: 5\nversion: 2\nconfig: |\n  a: 1\n  b: 2\n", b.String())

	b.Reset()
	require.NoError(t, writeData(&b, outputJSON, applyResult{Revision: 9, Changed: true}))
	assert.Equal(t, "{\n  \"revision\": 9,\n  \"changed\": true,\n  \"diff\": \"\",\n  \"dryRun\": false\n}\n", b.String())
}

func TestTableAlignsAndMarksEmptyCells(t *testing.T) {
	tb := newTable("NAME", "ROLE")
	tb.add("cp1", "controlplane")
	tb.add("worker10", "")
	tb.prependColumn("NODE")
	tb.rows[0] = append([]string{"x"}, tb.rows[0]...)
	tb.rows[1] = append([]string{"yy"}, tb.rows[1]...)
	var b bytes.Buffer
	require.NoError(t, tb.write(&b))
	assert.Equal(t, strings.Join([]string{
		"NODE   NAME       ROLE",
		"x      cp1        controlplane",
		"yy     worker10   -",
		"",
	}, "\n"), b.String())
}

func TestMembersTableColumns(t *testing.T) {
	results := []nodeResult[*clusterv1.MembersResponse]{{node: "cp2", val: &clusterv1.MembersResponse{Members: []*clusterv1.Member{{
		Name: "cp1", Role: clusterv1.Role_ROLE_CONTROLPLANE, GossipState: clusterv1.GossipState_GOSSIP_STATE_SUSPECT,
		RaftSuffrage: clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONVOTER, ApiAddress: "127.0.0.1:6440",
		AppliedConfigRevision: 4, Version: "v1", Health: "ok", Kubernetes: "ready", Kubelet: "not-ready",
	}}}}}

	tb := membersTable(results, true, false)

	assert.Equal(t, []string{"NODE", "NAME", "ROLE", "STATE", "SUFFRAGE", "ETCD", "KUBERNETES", "KUBELET", "LEADER", "API-ADDRESS", "CONFIG-REV", "VERSION", "HEALTH"}, tb.header)
	assert.Equal(t, [][]string{{"cp2", "cp1", "controlplane", "suspect", "nonvoter", "-", "ready", "not-ready", "no", "127.0.0.1:6440", "4", "v1", "ok"}}, tb.rows)
}

func TestCheckLinesMarks(t *testing.T) {
	checks := []health.Check{{Name: "nodes", OK: true, Detail: "fine"}, {Name: "leader", Detail: "no leader"}}
	assert.Equal(t, []string{"✓ nodes: fine", "… leader: no leader"}, checkLines(checks, false))
	assert.Equal(t, []string{"✓ nodes: fine", "✗ leader: no leader"}, checkLines(checks, true))
}

func TestProgressPrintsOnlyChangesWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	p.show([]string{"a", "b"})
	p.show([]string{"a", "b"})
	p.show([]string{"a", "c"})
	assert.Equal(t, "a\nb\na\nc\n", b.String())
}
