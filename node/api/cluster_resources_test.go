package api_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// detail returns err's first detail of type T.
func detail[T proto.Message](t *testing.T, err error) T {
	t.Helper()
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	for _, d := range ce.Details() {
		v, derr := d.Value()
		require.NoError(t, derr)
		if m, ok := v.(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("no %T detail in %v", zero, err)
	return zero
}

func createWidget(t *testing.T, c clusterv1connect.ClusterResourceServiceClient, id, spec string) *clusterv1.CreateResourceResponse {
	t.Helper()
	res, err := c.CreateResource(t.Context(), req(&clusterv1.CreateResourceRequest{Type: "widget", Id: id, SpecYaml: spec}))
	require.NoError(t, err)
	return res.Msg
}

func TestClusterResourcesCreateReadUpdateDelete(t *testing.T) {
	f := newResourceFixture(t, 0)
	admin := f.client(config.APIRoleAdmin)
	ctx := t.Context()

	created := createWidget(t, admin, "b", "size: 3\n")
	assert.Equal(t, "Widget", created.Resource.Type, "answered with the type's name")
	assert.Equal(t, uint64(1), created.Resource.Version)
	assert.Equal(t, created.Revision, created.Resource.CreateRevision)
	assert.False(t, created.Duplicate)
	raw, _, err := f.store.Get(ctx, "Widget", "b", 0)
	require.NoError(t, err)
	assert.JSONEq(t, `{"size":3}`, string(raw.Spec), "stored as JSON")
	createWidget(t, admin, "a", `{"size": 1}`)

	got, err := admin.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "WD", Id: "b"}))
	require.NoError(t, err)
	assert.Equal(t, "size: 3\n", got.Msg.Resource.SpecYaml)
	assert.GreaterOrEqual(t, got.Msg.Revision, created.Revision)
	stale, err := admin.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "Widget", Id: "b", Stale: true}))
	require.NoError(t, err)
	assert.True(t, proto.Equal(got.Msg.Resource, stale.Msg.Resource))

	list, err := admin.ListResources(ctx, req(&clusterv1.ListResourcesRequest{Type: "widgets"}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Resources, 2)
	assert.Equal(t, []string{"a", "b"}, []string{list.Msg.Resources[0].Id, list.Msg.Resources[1].Id})

	up, err := admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "b", SpecYaml: "size: 4", ExpectedVersion: 1}))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), up.Msg.Resource.Version)
	assert.Equal(t, "size: 4\n", up.Msg.Resource.SpecYaml)
	assert.Equal(t, created.Revision, up.Msg.Resource.CreateRevision)

	del, err := admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "b", ExpectedVersion: 2}))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), del.Msg.Resource.Version, "the last version")
	_, err = admin.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "Widget", Id: "b"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	_, err = admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "b"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))

	defs, err := admin.ListResourceDefinitions(ctx, req(&clusterv1.ListResourceDefinitionsRequest{}))
	require.NoError(t, err)
	require.Len(t, defs.Msg.Definitions, 6)
	assert.Equal(t, "ClusterConfig", defs.Msg.Definitions[0].Type)
	assert.False(t, defs.Msg.Definitions[0].Writable)
	assert.Equal(t, "EtcdBootstrap", defs.Msg.Definitions[1].Type)
	assert.False(t, defs.Msg.Definitions[1].Writable)
	assert.Equal(t, "EtcdMembership", defs.Msg.Definitions[2].Type)
	assert.False(t, defs.Msg.Definitions[2].Writable)
	assert.Equal(t, "Rollout", defs.Msg.Definitions[3].Type)
	assert.False(t, defs.Msg.Definitions[3].Writable)
	assert.Equal(t, "UpgradePlan", defs.Msg.Definitions[4].Type)
	assert.False(t, defs.Msg.Definitions[4].Writable)
	assert.Equal(t, "Widget", defs.Msg.Definitions[5].Type)
	assert.True(t, defs.Msg.Definitions[5].Writable)
	assert.Equal(t, []string{"widgets", "wd"}, defs.Msg.Definitions[5].Aliases)
}

func TestClusterResourceWritesAreCompareAndSet(t *testing.T) {
	f := newResourceFixture(t, 0)
	admin := f.client(config.APIRoleAdmin)
	ctx := t.Context()
	createWidget(t, admin, "a", "size: 1")
	before := f.store.Revision()

	_, err := admin.CreateResource(ctx, req(&clusterv1.CreateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 2"}))
	require.Equal(t, connect.CodeAborted, connect.CodeOf(err), err)
	vc := detail[*clusterv1.VersionConflict](t, err)
	assert.True(t, vc.Exists)
	assert.Equal(t, uint64(1), vc.CurrentVersion)

	_, err = admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 2", ExpectedVersion: 7}))
	require.Equal(t, connect.CodeAborted, connect.CodeOf(err), err)
	vc = detail[*clusterv1.VersionConflict](t, err)
	assert.Equal(t, uint64(7), vc.ExpectedVersion)
	assert.Equal(t, uint64(1), vc.CurrentVersion, "the current version, to retry with")
	assert.Contains(t, err.Error(), "expected version 7, current version 1")

	_, err = admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "a", ExpectedVersion: 3}))
	require.Equal(t, connect.CodeAborted, connect.CodeOf(err), err)
	assert.Equal(t, uint64(1), detail[*clusterv1.VersionConflict](t, err).CurrentVersion)

	_, err = admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "gone", SpecYaml: "size: 2", ExpectedVersion: 1}))
	require.Equal(t, connect.CodeAborted, connect.CodeOf(err), err)
	assert.False(t, detail[*clusterv1.VersionConflict](t, err).Exists)

	_, err = admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 2"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), err)
	assert.Contains(t, err.Error(), "expected_version is required")

	assert.Equal(t, before, f.store.Revision(), "failed writes change nothing")
}

func TestClusterResourceRetriesWithARequestIDWriteOnce(t *testing.T) {
	f := newResourceFixture(t, 0)
	admin := f.client(config.APIRoleAdmin)
	ctx := t.Context()

	create := &clusterv1.CreateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 1", RequestId: "create-a"}
	first, err := admin.CreateResource(ctx, req(create))
	require.NoError(t, err)
	retry, err := admin.CreateResource(ctx, req(proto.Clone(create).(*clusterv1.CreateResourceRequest)))
	require.NoError(t, err, "a retry is the same write, not a conflict")
	assert.True(t, retry.Msg.Duplicate)
	assert.Equal(t, first.Msg.Revision, retry.Msg.Revision)
	assert.Equal(t, first.Msg.Revision, f.store.Revision(), "written once")

	update := &clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 2", ExpectedVersion: 1, RequestId: "update-a"}
	up1, err := admin.UpdateResource(ctx, req(update))
	require.NoError(t, err)
	up2, err := admin.UpdateResource(ctx, req(proto.Clone(update).(*clusterv1.UpdateResourceRequest)))
	require.NoError(t, err, "the retry's expected version is stale, but it is answered from the first outcome")
	assert.True(t, up2.Msg.Duplicate)
	assert.Equal(t, up1.Msg.Revision, up2.Msg.Revision)
	assert.Equal(t, uint64(2), up2.Msg.Resource.Version)
	assert.Equal(t, up1.Msg.Revision, f.store.Revision(), "written once")

	stale := &clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 9", ExpectedVersion: 1, RequestId: "stale-a"}
	_, err1 := admin.UpdateResource(ctx, req(stale))
	_, err2 := admin.UpdateResource(ctx, req(proto.Clone(stale).(*clusterv1.UpdateResourceRequest)))
	assert.Equal(t, connect.CodeAborted, connect.CodeOf(err1))
	assert.Equal(t, connect.CodeAborted, connect.CodeOf(err2), "the same outcome")

	_, err = admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "a", RequestId: "update-a"}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "an ID reused for another write: %v", err)
	assert.Equal(t, up1.Msg.Revision, f.store.Revision())
}

func TestClusterResourceInvalidSpecsAreRefusedWithFieldsAndNotWritten(t *testing.T) {
	f := newResourceFixture(t, 0)
	admin := f.client(config.APIRoleAdmin)
	ctx := t.Context()
	before := f.store.Revision()

	for _, spec := range []string{"size: 0", "- a\n", "size: ["} {
		_, err := admin.CreateResource(ctx, req(&clusterv1.CreateResourceRequest{Type: "Widget", Id: "a", SpecYaml: spec}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%q: %v", spec, err)
		ve := detail[*clusterv1.ValidationErrors](t, err)
		require.NotEmpty(t, ve.Violations, spec)
	}
	_, err := admin.CreateResource(ctx, req(&clusterv1.CreateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: -2"}))
	ve := detail[*clusterv1.ValidationErrors](t, err)
	assert.Equal(t, "size", ve.Violations[0].Field)
	assert.Equal(t, "must be positive", ve.Violations[0].Description)

	createWidget(t, admin, "b", "size: 1")
	_, err = admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "b", SpecYaml: "size: 0", ExpectedVersion: 1}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	r, _, err := f.store.Get(ctx, "Widget", "b", 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), r.Version, "nothing written")
	_, _, err = f.store.Get(ctx, "Widget", "a", 0)
	require.Error(t, err, "nothing written")
	assert.Equal(t, before+1, f.store.Revision(), "only the valid create wrote")

	_, err = admin.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "gadget", Id: "x"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	assert.Contains(t, err.Error(), `unknown cluster resource type "gadget"; known cluster types: ClusterConfig, EtcdBootstrap, EtcdMembership, Rollout, UpgradePlan, Widget`)
	_, err = admin.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "Widget"}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "an id is required")
}

func TestClusterConfigIsReadOnlyAndRedactedThroughTheGenericAPI(t *testing.T) {
	f := newResourceFixture(t, 0)
	ctx := t.Context()
	want, err := f.config.Marshal(true)
	require.NoError(t, err)
	require.NotEmpty(t, f.config.Secrets.JoinToken)

	for _, role := range []string{config.APIRoleReader, config.APIRoleAdmin} {
		c := f.client(role)
		got, err := c.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "clusterconfig", Id: "cluster"}))
		require.NoError(t, err, role)
		assert.Equal(t, string(want), got.Msg.Resource.SpecYaml, "%s: rendered exactly as GetConfig renders it", role)
		assert.NotContains(t, got.Msg.Resource.SpecYaml, f.config.Secrets.JoinToken, role)
		assert.NotContains(t, got.Msg.Resource.SpecYaml, f.config.Secrets.CA.Key, role)
		list, err := c.ListResources(ctx, req(&clusterv1.ListResourcesRequest{Type: "cc", Stale: true}))
		require.NoError(t, err, role)
		require.Len(t, list.Msg.Resources, 1)
		assert.Equal(t, string(want), list.Msg.Resources[0].SpecYaml, role)
	}

	admin := f.client(config.APIRoleAdmin)
	before := f.store.Revision()
	_, err = admin.CreateResource(ctx, req(&clusterv1.CreateResourceRequest{Type: "ClusterConfig", Id: "other", SpecYaml: "a: b"}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), err)
	assert.Contains(t, err.Error(), "ClusterConfig is read-only through the cluster resource API: change it with ClusterService.ApplyConfig")
	_, err = admin.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "ClusterConfig", Id: "cluster", SpecYaml: "a: b", ExpectedVersion: 1}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), err)
	_, err = admin.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "ClusterConfig", Id: "cluster"}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), err)
	assert.Equal(t, before, f.store.Revision())
}

func TestClusterResourceRoles(t *testing.T) {
	f := newResourceFixture(t, 0)
	ctx := t.Context()
	createWidget(t, f.client(config.APIRoleAdmin), "a", "size: 1")

	for _, role := range []string{config.APIRoleReader, config.APIRoleOperator} {
		c := f.client(role)
		_, err := c.GetResource(ctx, req(&clusterv1.GetResourceRequest{Type: "Widget", Id: "a"}))
		require.NoError(t, err, role)
		_, err = c.ListResourceDefinitions(ctx, req(&clusterv1.ListResourceDefinitionsRequest{}))
		require.NoError(t, err, role)

		_, err = c.CreateResource(ctx, req(&clusterv1.CreateResourceRequest{Type: "Widget", Id: "b", SpecYaml: "size: 1"}))
		require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), role)
		assert.Equal(t, "permission denied: CreateResource needs os:admin; the caller has "+role, err.(*connect.Error).Message())
		_, err = c.UpdateResource(ctx, req(&clusterv1.UpdateResourceRequest{Type: "Widget", Id: "a", SpecYaml: "size: 2", ExpectedVersion: 1}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), role)
		_, err = c.DeleteResource(ctx, req(&clusterv1.DeleteResourceRequest{Type: "Widget", Id: "a"}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), role)
	}
	r, _, err := f.store.Get(ctx, "Widget", "a", 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), r.Version)
}

// watchCtx bounds a watch, so a missing event fails the test instead of
// hanging it.
func watchCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
