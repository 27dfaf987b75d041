package resources_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	"github.com/cairn-project/cairn/node/cluster/resources"
)

// widget is a writable test type: a spec needs a positive "size".
func widget() resources.Definition {
	return resources.Definition{
		Type: "Widget", Aliases: []string{"widgets", "wd"}, Description: "a test type", Writable: true,
		Validate: func(spec []byte) error {
			var w struct{ Size int }
			if err := json.Unmarshal(spec, &w); err != nil {
				return resources.Invalid("Widget", config.Violation{Field: "size", Message: err.Error()})
			}
			if w.Size <= 0 {
				return resources.Invalid("Widget", config.Violation{Field: "size", Message: "must be positive"})
			}
			return nil
		},
	}
}

func TestResolveTakesTypesAndAliasesInAnyCase(t *testing.T) {
	r, err := resources.New(append(resources.Builtin(), widget())...)
	require.NoError(t, err)
	for _, name := range []string{"Widget", "widget", "WIDGETS", "wd"} {
		d, err := r.Resolve(name)
		require.NoError(t, err, name)
		assert.Equal(t, "Widget", d.Type, name)
	}
	for _, name := range []string{"clusterconfig", "cc", "ClusterConfigs"} {
		d, err := r.Resolve(name)
		require.NoError(t, err, name)
		assert.Equal(t, "ClusterConfig", d.Type, name)
	}
	_, err = r.Resolve("gadget")
	require.ErrorIs(t, err, resources.ErrUnknownType)
	assert.EqualError(t, err, `unknown cluster resource type "gadget"; known cluster types: ClusterConfig, EtcdBootstrap, EtcdMembership, Rollout, UpgradePlan, Widget`)
	assert.Equal(t, []string{"ClusterConfig", "EtcdBootstrap", "EtcdMembership", "Rollout", "UpgradePlan", "Widget"}, r.Types())
}

func TestNewRefusesCollidingNamesAndUnvalidatedWritableTypes(t *testing.T) {
	clash := widget()
	clash.Type, clash.Aliases = "Gadget", []string{"WD"}
	_, err := resources.New(widget(), clash)
	require.ErrorIs(t, err, resources.ErrDuplicateName)
	assert.Contains(t, err.Error(), `"WD" of Gadget is also a name of Widget`)

	_, err = resources.New(resources.Definition{Type: "Loose", Writable: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Loose has no Validate")

	_, err = resources.New(resources.Definition{})
	require.ErrorIs(t, err, resources.ErrDuplicateName)
}

func TestPrepareStoresJSONAfterValidation(t *testing.T) {
	d := widget()
	for _, text := range []string{"size: 3\nname: a\n", `{"size": 3, "name": "a"}`} {
		js, err := d.Prepare([]byte(text))
		require.NoError(t, err, text)
		assert.JSONEq(t, `{"size":3,"name":"a"}`, string(js), text)
	}

	for _, text := range []string{"size: 0", "- 1\n- 2\n", "", "size: [", "42"} {
		_, err := d.Prepare([]byte(text))
		require.ErrorIs(t, err, resources.ErrInvalid, "%q", text)
		var ve *resources.ValidationError
		require.ErrorAs(t, err, &ve, "%q", text)
		assert.Equal(t, "Widget", ve.Type)
		assert.NotEmpty(t, ve.Violations)
	}
	_, err := d.Prepare([]byte("size: -1"))
	assert.EqualError(t, err, "invalid Widget spec: size: must be positive")
}

func TestReadOnlyTypesRefuseWritesNamingTheirOwnPath(t *testing.T) {
	cc, err := resources.Default().Resolve("ClusterConfig")
	require.NoError(t, err)
	assert.False(t, cc.Writable)
	_, err = cc.Prepare([]byte("a: b"))
	require.ErrorIs(t, err, resources.ErrReadOnly)
	assert.Contains(t, err.Error(), "ClusterConfig is read-only through the cluster resource API: change it with ClusterService.ApplyConfig")
}

func TestViewRendersJSONAsYAMLAndRedactsTheClusterConfig(t *testing.T) {
	out, err := widget().View([]byte(`{"size":3}`))
	require.NoError(t, err)
	assert.Equal(t, "size: 3\n", string(out))

	c, err := config.Generate(config.GenerateOptions{ClusterName: "demo", ControlPlanes: 1})
	require.NoError(t, err)
	require.NotEmpty(t, c.Secrets.JoinToken)
	cc, err := resources.Default().Resolve("cc")
	require.NoError(t, err)
	view, err := cc.View(config.Canonical(c))
	require.NoError(t, err)
	want, err := c.Marshal(true)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(view), "rendered as GetConfig renders it")
	assert.Contains(t, string(view), config.Redacted)
	assert.NotContains(t, string(view), c.Secrets.JoinToken)
	assert.False(t, strings.Contains(string(view), c.Secrets.CA.Key), "no CA key")
}

func TestEtcdBootstrapIsReadOnlyAndItsTokenRedacted(t *testing.T) {
	d, err := resources.Default().Resolve("etcdboot")
	require.NoError(t, err)
	assert.Equal(t, etcdboot.ResourceType, d.Type)
	require.ErrorIs(t, d.CheckWritable(), resources.ErrReadOnly)

	rec := etcdboot.Record{
		Generation: 1, ClusterToken: "s3cr3t-token", DecidedBy: "cp1",
		InitialMembers: []etcdboot.Member{{Name: "cp1", PeerURL: "https://10.0.0.1:2380"}},
	}
	spec, err := json.Marshal(rec)
	require.NoError(t, err)
	view, err := d.View(spec)
	require.NoError(t, err)
	assert.NotContains(t, string(view), "s3cr3t-token")
	var shown etcdboot.Record
	require.NoError(t, yaml.Unmarshal(view, &shown))
	assert.Equal(t, config.Redacted, shown.ClusterToken)
	assert.Contains(t, string(view), "https://10.0.0.1:2380")
	assert.Contains(t, string(view), "generation: 1")
}
