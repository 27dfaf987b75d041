// Package orderedyaml converts between JSON and block YAML keeping the key
// order of every mapping, the one thing sigs.k8s.io/yaml (the YAML library
// Cairn uses everywhere else) cannot do: its conversions go through Go maps
// and sort keys. It is the only Cairn package that imports go.yaml.in/yaml/v2,
// the engine under sigs.k8s.io/yaml, whose MapSlice keeps order.
package orderedyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v2"
)

// FromJSON converts a JSON document to block-style YAML with every object's
// keys in their JSON order. Integers of up to 64 bits stay exact.
func FromJSON(js []byte) ([]byte, error) {
	doc, err := decode(js)
	if err != nil {
		return nil, err
	}
	return encode(doc)
}

// ToJSON converts a YAML (or JSON) document to compact JSON with every
// mapping's keys in document order. Keys that are not strings are written
// as their YAML text, as sigs.k8s.io/yaml does; an empty document is an
// empty mapping.
// Duplicate keys are an error (ErrSyntax).
func ToJSON(data []byte) ([]byte, error) {
	doc, err := decode(data)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Edit decodes a YAML document keeping key order, calls fn for every
// mapping entry (parents before children) with the keys that lead to it
// from the root — list elements add no key — and re-encodes the document as
// block YAML. When fn returns replace true, value is written instead and
// the entry's children are not visited.
func Edit(data []byte, fn func(keys []string, value any) (replacement any, replace bool)) ([]byte, error) {
	doc, err := decode(data)
	if err != nil {
		return nil, err
	}
	edit(doc, nil, fn)
	return encode(doc)
}

// decode parses data with every mapping as a yaml.MapSlice. Decoding into
// a MapSlice makes go-yaml use MapSlice for nested mappings too; a document
// whose top level is not a mapping is decoded again into any, and its
// mappings are converted with their keys sorted (they have no order left).
func decode(data []byte) (any, error) {
	var m yaml.MapSlice
	err := yaml.UnmarshalStrict(data, &m)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
		}
		// go-yaml finds duplicate keys only when it decodes into Go maps.
		if err := checkDuplicates(m); err != nil {
			return nil, err
		}
		return m, nil
	}
	var doc any
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return ordered(doc), nil
}

// checkDuplicates fails on a mapping, at any depth, that has a key twice.
func checkDuplicates(v any) error {
	switch v := v.(type) {
	case yaml.MapSlice:
		seen := make(map[string]bool, len(v))
		for _, it := range v {
			k := keyString(it.Key)
			if seen[k] {
				return fmt.Errorf("%w: mapping key %q already defined", ErrSyntax, k)
			}
			seen[k] = true
			if err := checkDuplicates(it.Value); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkDuplicates(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// ordered turns the map[any]any values of a generic document into
// MapSlices with sorted keys.
func ordered(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(yaml.MapSlice, 0, len(v))
		for k, e := range v {
			m = append(m, yaml.MapItem{Key: k, Value: ordered(e)})
		}
		slices.SortFunc(m, func(a, b yaml.MapItem) int { return strings.Compare(keyString(a.Key), keyString(b.Key)) })
		return m
	case []any:
		for i := range v {
			v[i] = ordered(v[i])
		}
	}
	return v
}

func encode(doc any) ([]byte, error) {
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return out, nil
}

func edit(v any, keys []string, fn func([]string, any) (any, bool)) {
	switch v := v.(type) {
	case yaml.MapSlice:
		for i := range v {
			path := append(keys[:len(keys):len(keys)], keyString(v[i].Key))
			if r, ok := fn(path, v[i].Value); ok {
				v[i].Value = r
				continue
			}
			edit(v[i].Value, path, fn)
		}
	case []any:
		for _, e := range v {
			edit(e, keys, fn)
		}
	}
}

func writeJSON(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case yaml.MapSlice:
		b.WriteByte('{')
		for i, it := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeScalar(b, keyString(it.Key)); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeJSON(b, it.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return writeScalar(b, v)
	}
	return nil
}

func writeScalar(b *bytes.Buffer, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	b.Write(js)
	return nil
}

func keyString(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return fmt.Sprint(k)
}
