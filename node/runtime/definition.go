package runtime

import (
	"cmp"
	"slices"
	"strings"
)

// Definition describes a resource type for the people and tools that read
// it: the names it answers to and what it holds. The State needs none (a
// type is only a string to it); the node API resolves the names users type
// against definitions and lists them (cairnctl get rd).
type Definition struct {
	// Type is the name resources carry.
	Type string
	// Aliases are other accepted names: plural or singular, lowercase and
	// short forms.
	Aliases []string
	// Description says in one line what the type holds.
	Description string
}

// Matches reports whether name is the type's name or one of its aliases,
// ignoring letter case, as kubectl and talosctl match resource names.
func (d Definition) Matches(name string) bool {
	if strings.EqualFold(d.Type, name) {
		return true
	}
	return slices.ContainsFunc(d.Aliases, func(a string) bool { return strings.EqualFold(a, name) })
}

// Types returns every type that holds at least one resource, sorted.
func (s *State) Types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.objs))
	for typ := range s.objs {
		out = append(out, typ)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(a, b) })
	return out
}
