package resources

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Definition is one cluster-plane resource type: the names it answers to,
// whether the generic API may write it, and how its specs are checked and
// shown.
type Definition struct {
	// Type is the name resources carry in the store.
	Type string
	// Aliases are other accepted names (plural, lowercase, short forms).
	Aliases []string
	// Description says in one line what the type holds.
	Description string
	// Writable types accept Create, Update and Delete through the generic
	// API. A read-only type is written by its own code path (WrittenBy).
	Writable bool
	// WrittenBy names, for the refusal of a write, where a read-only type
	// is changed instead.
	WrittenBy string
	// Validate checks a spec (JSON, an object) before it is written and
	// returns a *ValidationError (see Invalid) listing every problem.
	// Required for writable types: nothing unvalidated is stored.
	Validate func(spec []byte) error
	// Render turns a stored spec into the YAML readers get. Nil renders the
	// stored JSON as YAML; types holding secrets redact them here.
	Render func(spec []byte) ([]byte, error)
}

// Matches reports whether name is the type's name or one of its aliases,
// ignoring letter case (as the node-local types match).
func (d Definition) Matches(name string) bool {
	return strings.EqualFold(d.Type, name) || slices.ContainsFunc(d.Aliases, func(a string) bool { return strings.EqualFold(a, name) })
}

// Names returns the type's name and aliases.
func (d Definition) Names() []string { return append([]string{d.Type}, d.Aliases...) }

// Prepare turns a spec as a client sent it (YAML or JSON text, a mapping)
// into the JSON to store, after the type's validation. It fails with
// ErrReadOnly for a read-only type and with a *ValidationError for a spec
// that does not parse or validate.
func (d Definition) Prepare(text []byte) ([]byte, error) {
	if err := d.CheckWritable(); err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, Invalid(d.Type, config.Violation{Message: "not a YAML or JSON document: " + err.Error()})
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '{' {
		return nil, Invalid(d.Type, config.Violation{Message: "the spec must be a mapping (a YAML mapping or a JSON object)"})
	}
	if err := d.Validate(js); err != nil {
		return nil, err
	}
	return js, nil
}

// CheckWritable fails with ErrReadOnly, naming WrittenBy, for a type the
// generic API must not write (deletes included).
func (d Definition) CheckWritable() error {
	if d.Writable {
		return nil
	}
	return fmt.Errorf("%s is %w: change it with %s", d.Type, ErrReadOnly, d.WrittenBy)
}

// View renders a stored spec for readers as YAML (Render, or the stored
// JSON as YAML).
func (d Definition) View(spec []byte) ([]byte, error) {
	if d.Render != nil {
		out, err := d.Render(spec)
		if err != nil {
			return nil, fmt.Errorf("render %s spec: %w", d.Type, err)
		}
		return out, nil
	}
	if len(spec) == 0 {
		return nil, nil
	}
	out, err := yaml.JSONToYAML(spec)
	if err != nil {
		return nil, fmt.Errorf("render %s spec: %w", d.Type, err)
	}
	return out, nil
}

// Registry holds the cluster-plane resource types. It is immutable once
// built, so it is shared without locking.
type Registry struct {
	defs []Definition // sorted by type, ignoring case
}

// New builds a registry of defs. Every name (types and aliases together)
// must be unique ignoring case, and every writable type needs a Validate.
func New(defs ...Definition) (*Registry, error) {
	seen := map[string]string{}
	for _, d := range defs {
		if d.Type == "" {
			return nil, fmt.Errorf("%w: a definition has no type name", ErrDuplicateName)
		}
		if d.Writable && d.Validate == nil {
			return nil, fmt.Errorf("writable cluster resource type %s has no Validate", d.Type)
		}
		for _, n := range d.Names() {
			key := strings.ToLower(n)
			if owner, ok := seen[key]; ok {
				return nil, fmt.Errorf("%w: %q of %s is also a name of %s", ErrDuplicateName, n, d.Type, owner)
			}
			seen[key] = d.Type
		}
	}
	out := slices.Clone(defs)
	slices.SortFunc(out, func(a, b Definition) int {
		return strings.Compare(strings.ToLower(a.Type), strings.ToLower(b.Type))
	})
	return &Registry{defs: out}, nil
}

// Resolve returns the type name stands for: a registered type, by name or
// alias in any case. Otherwise it fails with ErrUnknownType naming the
// known types.
func (r *Registry) Resolve(name string) (Definition, error) {
	for _, d := range r.defs {
		if d.Matches(name) {
			return d, nil
		}
	}
	return Definition{}, fmt.Errorf("%w %q; known cluster types: %s", ErrUnknownType, name, strings.Join(r.Types(), ", "))
}

// Definitions returns every type, ordered by name ignoring case.
func (r *Registry) Definitions() []Definition { return slices.Clone(r.defs) }

// Types returns every type's name, ordered as Definitions.
func (r *Registry) Types() []string {
	out := make([]string, len(r.defs))
	for i, d := range r.defs {
		out[i] = d.Type
	}
	return out
}
