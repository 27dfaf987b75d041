package config

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary documents to the parser and validator: they
// never panic, every refusal is one of the documented errors, and a
// document that loads marshals to one that loads to the same config (what
// ApplyConfig stores is what every node reads back).
func FuzzLoad(f *testing.F) {
	c, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 3, Workers: 2})
	if err != nil {
		f.Fatal(err)
	}
	doc, err := c.Marshal(false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte("apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\n"))
	f.Add([]byte("apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\ncluster: {name: x, kubernetes: {version: v1.37.2}}\nnodes: [{name: a, role: controlplane}]\n"))
	f.Add([]byte("a: &x [*x, *x]\n"))
	f.Add([]byte("[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"))
	f.Add([]byte("apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\nnodes: {}\ncluster: 7\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Load(data)
		if err != nil {
			var ve *ValidationError
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrUnknownField) && !errors.As(err, &ve) {
				t.Fatalf("an undocumented refusal: %v", err)
			}
			return
		}
		again, err := got.Marshal(false)
		if err != nil {
			t.Fatalf("a loaded config does not marshal: %v", err)
		}
		back, err := Load(again)
		if err != nil {
			t.Fatalf("a loaded config marshals to one that does not load: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(got, back) {
			t.Fatalf("the round trip changed the config:\n%s", again)
		}
	})
}
