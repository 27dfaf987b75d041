package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Parse decodes a cluster configuration document strictly. It rejects malformed
// YAML and duplicate keys (ErrSyntax), a wrong apiVersion or kind
// (ErrUnsupportedVersion), fields the schema does not define — including ones
// that differ from a known field only in letter case — (ErrUnknownField), and
// values of the wrong type (ErrSyntax). Problems located in the document are
// returned as a *ValidationError listing each with its field path.
//
// Parse checks shape, not meaning: call Validate (or use Load) before acting on
// the result.
func Parse(data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrSyntax, cleanYAMLError(err))
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the document must be a mapping, got %s", ErrSyntax, describeJSON(doc))
	}
	if err := checkHeader(top); err != nil {
		return nil, err
	}

	var unknown, wrongType violations
	checkShape(doc, reflect.TypeFor[Config](), "", &unknown, &wrongType)
	if len(unknown) > 0 {
		return nil, append(unknown, wrongType...).asError(ErrUnknownField)
	}
	if err := wrongType.asError(ErrSyntax); err != nil {
		return nil, err
	}

	var c Config
	dec = json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// checkShape accepted the document, so this means checkShape and
		// encoding/json disagree; report it rather than hide it.
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return &c, nil
}

// Load parses and validates a document: the usual way to read a config file.
func Load(data []byte) (*Config, error) {
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkHeader rejects documents of another apiVersion or kind before their
// fields are interpreted, so a newer document fails with one clear message
// instead of a list of unknown fields.
func checkHeader(top map[string]any) error {
	var vs violations
	for _, h := range []struct {
		field, want string
	}{{"apiVersion", APIVersion}, {"kind", Kind}} {
		got, present := top[h.field]
		switch s, isString := got.(string); {
		case !present || got == nil:
			vs.add(fieldPath(h.field), "is required; want %q", h.want)
		case !isString || s != h.want:
			vs.add(fieldPath(h.field), "must be %q, got %s", h.want, describeJSON(got))
		}
	}
	return vs.asError(ErrUnsupportedVersion)
}

// checkShape walks a generic JSON value alongside the Go type it will decode
// into, recording unknown fields (matched case-sensitively, unlike
// encoding/json) and values of the wrong type, each with its path.
func checkShape(v any, t reflect.Type, p fieldPath, unknown, wrongType *violations) {
	if v == nil {
		return // null decodes to the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			wrongType.add(p, "must be a mapping, got %s", describeJSON(v))
			return
		}
		fields := structFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			i := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.name == k })
			if i < 0 {
				unknown.add(p.key(k), "unknown field%s", suggestField(k, fields))
				continue
			}
			checkShape(m[k], fields[i].field.Type, p.key(k), unknown, wrongType)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			wrongType.add(p, "must be a list, got %s", describeJSON(v))
			return
		}
		for i, e := range list {
			checkShape(e, t.Elem(), p.index(i), unknown, wrongType)
		}
	case reflect.Map: // string keys only (kernel.sysctls)
		m, ok := v.(map[string]any)
		if !ok {
			wrongType.add(p, "must be a mapping, got %s", describeJSON(v))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			checkShape(m[k], t.Elem(), p.mapKey(k), unknown, wrongType)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			wrongType.add(p, "must be a string, got %s (quote the value)", describeJSON(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			wrongType.add(p, "must be true or false, got %s", describeJSON(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); !ok || err != nil {
			wrongType.add(p, "must be an integer, got %s", describeJSON(v))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); !ok || err != nil {
			wrongType.add(p, "must be an integer from 0 to %d, got %s", uint64(math.MaxUint64)>>(64-t.Bits()), describeJSON(v))
		}
	default:
		wrongType.add(p, "has unsupported Go type %s", t)
	}
}

// suggestField returns a hint naming the known field that k differs from only
// in letter case, if there is one.
func suggestField(k string, fields []fieldInfo) string {
	for _, f := range fields {
		if strings.EqualFold(f.name, k) {
			return fmt.Sprintf(" (did you mean %q?)", f.name)
		}
	}
	return ""
}

// describeJSON describes a generic JSON value for an error message without
// echoing long values.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return strconv.Quote(v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// cleanYAMLError strips the wrapper prefixes sigs.k8s.io/yaml adds and folds
// a multi-line error list into one line.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:")
	return strings.Join(strings.Fields(s), " ")
}
