package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// orderedObject is a JSON object that keeps its keys in insertion order.
type orderedObject []objectField

// objectField is one key of an orderedObject.
type objectField struct {
	key   string
	value any
}

// MarshalJSON encodes the fields in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// with returns o with key set to value: replaced in place if present, else
// put first.
func (o orderedObject) with(key string, value any) orderedObject {
	if i := slices.IndexFunc(o, func(f objectField) bool { return f.key == key }); i >= 0 {
		o[i].value = value
		return o
	}
	return append(orderedObject{{key, value}}, o...)
}

// protoObject converts a message to a JSON value the way protojson does with
// EmitUnpopulated (lowerCamelCase names, every field present, enums by
// name, well-known types in their JSON forms) except that 64-bit integers
// are JSON numbers rather than strings, and keys follow field order.
func protoObject(m proto.Message) any {
	return messageValue(m.ProtoReflect())
}

func messageValue(m protoreflect.Message) any {
	if m.Descriptor().FullName().Parent() == "google.protobuf" {
		js, err := protojson.Marshal(m.Interface())
		if err != nil {
			return nil
		}
		return json.RawMessage(js)
	}
	fields := m.Descriptor().Fields()
	out := make(orderedObject, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil && !m.Has(fd) {
			continue
		}
		var v any
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			list := make([]any, l.Len())
			for j := range l.Len() {
				list[j] = scalarValue(fd, l.Get(j))
			}
			v = list
		case fd.IsMap():
			v = mapValue(fd, m.Get(fd).Map())
		case fd.Kind() == protoreflect.MessageKind && !m.Has(fd):
			v = nil
		default:
			v = scalarValue(fd, m.Get(fd))
		}
		out = append(out, objectField{fd.JSONName(), v})
	}
	return out
}

func mapValue(fd protoreflect.FieldDescriptor, m protoreflect.Map) orderedObject {
	var out orderedObject
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		out = append(out, objectField{k.String(), scalarValue(fd.MapValue(), v)})
		return true
	})
	slices.SortFunc(out, func(a, b objectField) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}

func scalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageValue(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	case protoreflect.BytesKind:
		return v.Bytes()
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return f
	}
	return v.Interface()
}
