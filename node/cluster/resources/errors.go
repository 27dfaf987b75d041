package resources

import (
	"errors"
	"strings"

	"github.com/cairn-project/cairn/node/cluster/config"
)

var (
	// ErrUnknownType is returned by Resolve when a name matches no
	// registered type or alias; the error names the known types.
	ErrUnknownType = errors.New("unknown cluster resource type")
	// ErrReadOnly is returned by Definition.Prepare for a type that is not
	// writable through the generic API; the error names where it is
	// changed instead.
	ErrReadOnly = errors.New("read-only through the cluster resource API")
	// ErrInvalid is wrapped by every *ValidationError: a spec that is not a
	// YAML or JSON mapping, or that its type's Validate refuses.
	ErrInvalid = errors.New("invalid resource spec")
	// ErrDuplicateName is returned by New when two definitions share a
	// type name or alias (in any letter case), or one has no type name.
	ErrDuplicateName = errors.New("resource type name taken")
)

// ValidationError lists every problem found in a spec, each located by
// its field path, in the shape of config validation errors (the API sends
// both as cairn.cluster.v1.ValidationErrors).
type ValidationError struct {
	// Type is the resource type the spec was checked for.
	Type string
	// Violations are the problems; Field is "" for the whole document.
	Violations []config.Violation
}

// Error names the type and joins the violations into one line.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return "invalid " + e.Type + " spec: " + strings.Join(parts, "; ")
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid is a shorthand for a Validate function's answer: a
// *ValidationError of the given violations, or nil when there are none.
func Invalid(typ string, vs ...config.Violation) error {
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Type: typ, Violations: vs}
}
