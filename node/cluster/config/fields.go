package config

import (
	"reflect"
	"strconv"
	"strings"
)

// fieldInfo describes one JSON-visible field of a config struct. Parse, Schema
// and redaction all derive what they know about the document from it, so the
// Go types stay the single source of truth.
type fieldInfo struct {
	name     string // JSON name
	index    int    // index in the Go struct
	optional bool   // omitempty or omitzero
	secret   bool   // tagged cairn:"secret"
	field    reflect.StructField
}

// structFields returns the JSON-visible fields of struct type t in declaration
// order.
func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, fieldInfo{
			name:     name,
			index:    i,
			optional: strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero"),
			secret:   f.Tag.Get("cairn") == "secret",
			field:    f,
		})
	}
	return out
}

// fieldPath is a dotted JSON field path with indexes, such as
// nodes[1].network.addresses[0].cidr.
type fieldPath string

// key returns the path of the named child field.
func (p fieldPath) key(name string) fieldPath {
	if p == "" {
		return fieldPath(name)
	}
	return p + "." + fieldPath(name)
}

// mapKey returns the path of a map entry whose key may hold dots, such as
// kernel.sysctls["net.ipv4.ip_forward"].
func (p fieldPath) mapKey(k string) fieldPath {
	return p + "[" + fieldPath(strconv.Quote(k)) + "]"
}

// index returns the path of the i-th element of a list.
func (p fieldPath) index(i int) fieldPath {
	return p + "[" + fieldPath(strconv.Itoa(i)) + "]"
}
