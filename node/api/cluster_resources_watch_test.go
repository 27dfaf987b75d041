package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

type seen struct {
	event    clusterv1.ResourceEventType
	id, spec string
	version  uint64
	revision uint64
}

// next receives one event or fails.
func next(t *testing.T, s *connect.ServerStreamForClient[clusterv1.WatchResourcesResponse]) seen {
	t.Helper()
	require.True(t, s.Receive(), "watch ended: %v", s.Err())
	m := s.Msg()
	return seen{m.Event, m.Resource.Id, m.Resource.SpecYaml, m.Resource.Version, m.Revision}
}

func TestClusterResourceWatchSendsEveryChangeWithItsRevision(t *testing.T) {
	f := newResourceFixture(t, 0)
	admin := f.client(config.APIRoleAdmin)
	reader := f.client(config.APIRoleReader)
	ctx := watchCtx(t)
	createWidget(t, admin, "a", "size: 1")
	at := f.store.Revision()

	all, err := reader.WatchResources(ctx, req(&clusterv1.WatchResourcesRequest{Type: "widgets"}))
	require.NoError(t, err)
	defer all.Close()
	assert.Equal(t, seen{clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_CREATED, "a", "size: 1\n", 1, at}, next(t, all), "the existing resource first")

	onlyB, err := reader.WatchResources(ctx, req(&clusterv1.WatchResourcesRequest{Type: "Widget", Id: "b", FromRevision: at + 1}))
	require.NoError(t, err)
	defer onlyB.Close()

	b := createWidget(t, admin, "b", "size: 2")
	up, err := admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 3", ExpectedVersion: 1}))
	require.NoError(t, err)
	del, err := admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "b"}))
	require.NoError(t, err)

	assert.Equal(t, seen{clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_CREATED, "b", "size: 2\n", 1, b.Revision}, next(t, all))
	assert.Equal(t, seen{clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_UPDATED, "a", "size: 3\n", 2, up.Msg.Revision}, next(t, all))
	assert.Equal(t, seen{clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_DELETED, "b", "size: 2\n", 1, del.Msg.Revision}, next(t, all))

	assert.Equal(t, seen{clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_CREATED, "b", "size: 2\n", 1, b.Revision}, next(t, onlyB), "only b")
	assert.Equal(t, clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_DELETED, next(t, onlyB).event)

	resumed, err := reader.WatchResources(ctx, req(&clusterv1.WatchResourcesRequest{Type: "Widget", FromRevision: up.Msg.Revision}))
	require.NoError(t, err)
	defer resumed.Close()
	assert.Equal(t, up.Msg.Revision, next(t, resumed).revision, "resumes at the revision asked for")
	assert.Equal(t, del.Msg.Revision, next(t, resumed).revision)
}

func TestClusterResourceWatchOfACompactedRevisionNamesTheOldest(t *testing.T) {
	f := newResourceFixture(t, 2)
	admin := f.client(config.APIRoleAdmin)
	for _, id := range []string{"a", "b", "c", "d"} {
		createWidget(t, admin, id, "size: 1")
	}
	last := f.store.Revision()

	s, err := admin.WatchResources(watchCtx(t), req(&clusterv1.WatchResourcesRequest{Type: "Widget", FromRevision: 1}))
	require.NoError(t, err)
	defer s.Close()
	require.False(t, s.Receive())
	err = s.Err()
	require.Equal(t, connect.CodeOutOfRange, connect.CodeOf(err), err)
	rc := detail[*clusterv1.RevisionCompacted](t, err)
	assert.Equal(t, uint64(1), rc.RequestedRevision)
	assert.Equal(t, last-1, rc.OldestRevision, "two events kept")
	assert.Contains(t, err.Error(), "oldest available revision is")
}

func TestClusterConfigWatchIsRedacted(t *testing.T) {
	f := newResourceFixture(t, 0)
	want, err := f.config.Marshal(true)
	require.NoError(t, err)
	var c clusterv1connect.ClusterResourceServiceClient = f.client(config.APIRoleReader)
	s, err := c.WatchResources(watchCtx(t), req(&clusterv1.WatchResourcesRequest{Type: "ClusterConfig"}))
	require.NoError(t, err)
	defer s.Close()
	got := next(t, s)
	assert.Equal(t, "cluster", got.id)
	assert.Equal(t, string(want), got.spec)
	assert.NotContains(t, got.spec, f.config.Secrets.JoinToken)
}
