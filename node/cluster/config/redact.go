package config

import (
	"reflect"
	"sync"
)

// redactedView returns a copy of c with every non-empty secret replaced by
// Redacted — or, when old is not nil and holds a different non-empty value
// at the same place, by RedactedChanged — in one reflection walk and
// without deep-copying the document: the copy shares everything with c
// except the slices and pointers on the way to a secret, which are copied,
// so c itself is never modified. The view is for encoding only: modifying
// it could modify c.
func redactedView(c, old *Config) *Config {
	v := *c
	var o reflect.Value
	if old != nil {
		o = reflect.ValueOf(old).Elem()
	}
	redactValue(reflect.ValueOf(&v).Elem(), o)
	return &v
}

// redactValue redacts the secrets in the settable v, comparing each with
// the value at the same place in old when old is valid.
func redactValue(v, old reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range structFields(v.Type()) {
			if !f.secret && !hasSecrets(f.field.Type) {
				continue
			}
			fv := v.Field(f.index)
			var of reflect.Value
			if old.IsValid() {
				of = old.Field(f.index)
			}
			if f.secret && fv.Kind() == reflect.String {
				redactString(fv, of)
				continue
			}
			redactValue(fv, of)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		v.Set(cp)
		for i := range v.Len() {
			var oe reflect.Value
			if old.IsValid() && i < old.Len() {
				oe = old.Index(i)
			}
			redactValue(v.Index(i), oe)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		cp := reflect.New(v.Type().Elem())
		cp.Elem().Set(v.Elem())
		v.Set(cp)
		var oe reflect.Value
		if old.IsValid() && !old.IsNil() {
			oe = old.Elem()
		}
		redactValue(cp.Elem(), oe)
	}
}

func redactString(v, old reflect.Value) {
	s := v.String()
	switch {
	case s == "":
		// A missing secret stays visible as missing.
	case old.IsValid() && old.String() != "" && old.String() != s:
		v.SetString(RedactedChanged)
	default:
		v.SetString(Redacted)
	}
}

var secretTypes sync.Map // reflect.Type → bool

// hasSecrets reports whether a value of type t can hold a field tagged
// cairn:"secret", so redaction skips (and never copies) the rest.
func hasSecrets(t reflect.Type) bool {
	if known, ok := secretTypes.Load(t); ok {
		return known.(bool)
	}
	var has bool
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range structFields(t) {
			if f.secret || hasSecrets(f.field.Type) {
				has = true
				break
			}
		}
	case reflect.Slice, reflect.Pointer:
		has = hasSecrets(t.Elem())
	}
	secretTypes.Store(t, has)
	return has
}
