package cli

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestMergePatchRFC7386Examples replays the test cases of RFC 7386,
// Appendix A, except those whose patch is not an object (refused here).
func TestMergePatchRFC7386Examples(t *testing.T) {
	for _, tc := range []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		t.Run(tc.patch, func(t *testing.T) {
			target := tc.target
			if target == `[1,2]` {
				target = `` // a non-object target behaves as an empty one
			}
			got, err := mergePatchYAML([]byte(target), []byte(tc.patch))
			require.NoError(t, err)
			js, err := yaml.YAMLToJSON(got)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(js))
		})
	}
}

func TestMergePatchKeepsDocumentOrderAndAcceptsYAML(t *testing.T) {
	doc := "apiVersion: v1\nkind: K\ncluster:\n  name: a\n  seeds:\n  - x\n  - y\nnodes: []\n"

	got, err := mergePatchYAML([]byte(doc), []byte("cluster: {seeds: null, name: b, extra: 1}"))

	require.NoError(t, err)
	assert.Equal(t, "apiVersion: v1\nkind: K\ncluster:\n  name: b\n  extra: 1\nnodes: []\n", string(got))
}

func TestMergePatchRefusesNonObjectPatch(t *testing.T) {
	for _, p := range []string{`[1]`, `"x"`, `: bad`} {
		_, err := mergePatchYAML([]byte("a: 1\n"), []byte(p))
		require.ErrorIs(t, err, ErrUsage, p)
	}
}

func TestMergePatchKeepsNumbersExact(t *testing.T) {
	got, err := mergePatchYAML([]byte("big: 18446744073709551615\n"), []byte(`{"n": 3}`))
	require.NoError(t, err)
	js, err := yaml.YAMLToJSON(got)
	require.NoError(t, err)
	var m map[string]json.Number
	require.NoError(t, json.Unmarshal(js, &m))
	assert.Equal(t, json.Number("18446744073709551615"), m["big"])
}
