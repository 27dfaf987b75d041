package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite docs/config-schema.json and the generated field reference in docs/config.md")

const (
	schemaPath = "../../../docs/config-schema.json"
	docPath    = "../../../docs/config.md"
	beginRef   = "<!-- BEGIN GENERATED FIELD REFERENCE: go test ./node/cluster/config -run TestSchemaUpToDate -update -->\n"
	endRef     = "<!-- END GENERATED FIELD REFERENCE -->\n"
)

const staleHint = "stale; regenerate with: go test ./node/cluster/config -run TestSchemaUpToDate -update"

// TestSchemaUpToDate fails when docs/config-schema.json or the field reference
// in docs/config.md no longer matches the Go types; -update rewrites both.
func TestSchemaUpToDate(t *testing.T) {
	t.Run("config-schema.json", func(t *testing.T) {
		want := generateSchema(t)
		require.True(t, json.Valid(want))
		if *update {
			require.NoError(t, os.WriteFile(schemaPath, want, 0o644))
			return
		}
		got, err := os.ReadFile(schemaPath)
		require.NoError(t, err, staleHint)
		assert.Equal(t, string(want), string(got), "docs/config-schema.json is "+staleHint)
	})
	t.Run("config.md", func(t *testing.T) {
		doc, err := os.ReadFile(docPath)
		require.NoError(t, err)
		head, rest, ok := strings.Cut(string(doc), beginRef)
		require.True(t, ok, "docs/config.md lacks the begin marker")
		_, tail, ok := strings.Cut(rest, endRef)
		require.True(t, ok, "docs/config.md lacks the end marker")
		want := head + beginRef + fieldReference(t) + endRef + tail
		if *update {
			require.NoError(t, os.WriteFile(docPath, []byte(want), 0o644))
			return
		}
		assert.Equal(t, want, string(doc), "docs/config.md is "+staleHint)
	})
}

// TestEveryFieldDocumented requires a doc comment on every type and field and
// an example for every leaf field, so the schema and docs are never blank.
func TestEveryFieldDocumented(t *testing.T) {
	docs := typeDocs(t)
	walkFields(reflect.TypeFor[Config](), "", func(path string, owner reflect.Type, f fieldInfo) {
		key := owner.Name() + "." + f.field.Name
		assert.NotEmpty(t, docs[owner.Name()], "type %s has no doc comment", owner.Name())
		assert.True(t, strings.HasPrefix(docs[key], f.field.Name+" "), "%s (%s): doc comment must start with the field name", path, key)
		if isLeaf(f.field.Type) && path != "apiVersion" && path != "kind" {
			assert.Contains(t, schemaExtras[key], "examples", "%s (%s) has no example", path, key)
		}
	})
	for key := range schemaExtras {
		typ, field, _ := strings.Cut(key, ".")
		assert.Contains(t, docs, key, "schemaExtras names %s.%s, which does not exist", typ, field)
	}
}

// TestDocsExampleIsValid checks the example in docs/config.md: it must parse,
// and fail validation only because its secrets are redacted.
func TestDocsExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## Example\n.*?```yaml\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/config.md has no example")
	c, err := Parse(m[1])
	require.NoError(t, err)
	var ve *ValidationError
	require.ErrorAs(t, c.Validate(), &ve)
	assert.Equal(t, []string{"secrets.ca.key", "secrets.etcdCA.key", "secrets.frontProxyCA.key", "secrets.gossipKey", "secrets.joinToken", "secrets.kubernetesCA.key", "secrets.serviceAccountKey"}, ve.Fields(), "%v", ve)
	assert.Empty(t, c.Warnings())
}

func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct && (t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct)
}

// walkFields visits every field of t depth-first in declaration order, with
// list elements written as [].
func walkFields(t reflect.Type, prefix string, fn func(path string, owner reflect.Type, f fieldInfo)) {
	for _, f := range structFields(t) {
		path := f.name
		if prefix != "" {
			path = prefix + "." + f.name
		}
		fn(path, t, f)
		switch ft := f.field.Type; {
		case ft.Kind() == reflect.Struct:
			walkFields(ft, path, fn)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkFields(ft.Elem(), path+"[]", fn)
		}
	}
}

// fieldReference renders the markdown field reference from the same sources
// as Schema: the Go types, their comments and schemaExtras.
func fieldReference(t *testing.T) string {
	docs := typeDocs(t)
	var b strings.Builder
	walkFields(reflect.TypeFor[Config](), "", func(path string, owner reflect.Type, f fieldInfo) {
		key := owner.Name() + "." + f.field.Name
		extras := schemaExtras[key]
		depth := strings.Count(path, ".")
		fmt.Fprintf(&b, "%s `%s`\n\n", strings.Repeat("#", min(3+depth, 6)), path)
		req := "required"
		if f.optional {
			req = "optional"
		}
		fmt.Fprintf(&b, "*%s, %s*", typeName(f.field.Type), req)
		for _, c := range []string{"const", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum"} {
			v, ok := extras[c]
			if !ok {
				continue
			}
			if str, isString := v.(string); isString {
				fmt.Fprintf(&b, " · %s `%s`", c, str)
			} else {
				fmt.Fprintf(&b, " · %s `%s`", c, compactJSON(t, v))
			}
		}
		b.WriteString("\n\n" + docs[key] + "\n\n")
		if f.secret {
			b.WriteString(secretNote + "\n\n")
		}
		if ex, ok := extras["examples"].([]any); ok {
			out, err := yaml.Marshal(map[string]any{f.name: ex[0]})
			require.NoError(t, err)
			b.WriteString("```yaml\n" + string(out) + "```\n\n")
		}
	})
	return b.String()
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	default:
		return "integer"
	}
}

func compactJSON(t *testing.T, v any) string {
	var b bytes.Buffer
	require.NoError(t, encodeJSON(&b, v))
	return b.String()
}
