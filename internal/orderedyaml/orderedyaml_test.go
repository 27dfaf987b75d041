package orderedyaml

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFromJSONKeepsKeyOrderAndNumbers(t *testing.T) {
	out, err := FromJSON([]byte(`{"kind":"K","apiVersion":"v1","num":18446744073709551615,"list":[{"b":1,"a":2}],"empty":{}}`))
	require.NoError(t, err)
	assert.Equal(t, "kind: K\napiVersion: v1\nnum: 18446744073709551615\nlist:\n- b: 1\n  a: 2\nempty: {}\n", string(out))

	_, err = FromJSON([]byte(`{"a":`))
	require.ErrorIs(t, err, ErrSyntax)
}

func TestToJSONKeepsKeyOrder(t *testing.T) {
	js, err := ToJSON([]byte("z: 1\na:\n  c: [x, {q: null}]\n  b: true\n1: one\n"))
	require.NoError(t, err)
	assert.Equal(t, `{"z":1,"a":{"c":["x",{"q":null}],"b":true},"1":"one"}`, string(js))

	js, err = ToJSON(nil)
	require.NoError(t, err)
	assert.Equal(t, "{}", string(js))

	js, err = ToJSON([]byte("- {b: 1, a: 2}\n- 3\n"))
	require.NoError(t, err)
	assert.Equal(t, `[{"a":2,"b":1},3]`, string(js), "a list at the top has no key order left")

	for _, dup := range []string{"a: 1\na: 2\n", "a: {b: 1, b: 2}\n", "- {b: 1, b: 2}\n"} {
		_, err = ToJSON([]byte(dup))
		require.ErrorIs(t, err, ErrSyntax, "duplicate keys in %q", dup)
	}
	_, err = ToJSON([]byte("a: .nan\n"))
	require.ErrorIs(t, err, ErrNotJSON)
}

func TestEditReplacesByKeyPath(t *testing.T) {
	doc := "b: 1\nsecrets:\n  key: s3cret\n  empty: ''\nlist:\n- key: other\n"
	var seen []string
	out, err := Edit([]byte(doc), func(keys []string, v any) (any, bool) {
		seen = append(seen, strings.Join(keys, "."))
		if strings.Join(keys, ".") == "secrets.key" {
			return "hidden", true
		}
		return nil, false
	})
	require.NoError(t, err)
	assert.Equal(t, "b: 1\nsecrets:\n  key: hidden\n  empty: \"\"\nlist:\n- key: other\n", string(out))
	assert.Equal(t, []string{"b", "secrets", "secrets.key", "secrets.empty", "list", "list.key"}, seen)
}
