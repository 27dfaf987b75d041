package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Violation is one problem found in a document, located by its JSON field path
// (for example nodes[1].network.addresses[0].cidr). The same shape is used for
// warnings.
type Violation struct {
	// Field is the JSON field path of the offending value.
	Field string `json:"field"`
	// Message says what is wrong, in a form that can follow the field path.
	Message string `json:"message"`
}

// String returns "field: message".
func (v Violation) String() string {
	if v.Field == "" {
		return v.Message
	}
	return v.Field + ": " + v.Message
}

// ValidationError lists every problem Parse or Validate found, sorted by field
// path (list indexes compare numerically) and then by message, so the same
// document always yields the same error. It unwraps to ErrInvalid or to the more
// specific sentinel describing the kind of problem (ErrUnknownField, ErrSyntax,
// ErrUnsupportedVersion).
type ValidationError struct {
	// Violations lists the problems, sorted.
	Violations []Violation
	kind       error
}

// Error joins every violation into one line.
func (e *ValidationError) Error() string {
	if len(e.Violations) == 0 {
		return e.Unwrap().Error()
	}
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return e.Unwrap().Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap returns the sentinel describing the kind of problem; it always
// matches ErrInvalid with errors.Is.
func (e *ValidationError) Unwrap() error {
	if e.kind == nil {
		return ErrInvalid
	}
	return e.kind
}

// Fields returns the field paths of the violations, in order. It is a
// convenience for tests and for API responses.
func (e *ValidationError) Fields() []string {
	out := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Field
	}
	return out
}

// violations collects problems while a document is checked.
type violations []Violation

func (vs *violations) add(p fieldPath, format string, args ...any) {
	*vs = append(*vs, Violation{Field: string(p), Message: fmt.Sprintf(format, args...)})
}

// sorted returns the violations in deterministic order, without exact
// duplicates.
func (vs violations) sorted() []Violation {
	out := slices.Clone([]Violation(vs))
	slices.SortFunc(out, func(a, b Violation) int {
		if c := comparePaths(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

// asError returns nil when there are no violations, or a *ValidationError
// that unwraps to kind.
func (vs violations) asError(kind error) error {
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Violations: vs.sorted(), kind: kind}
}

// comparePaths orders field paths like strings, except that runs of digits
// compare as numbers, so nodes[2] sorts before nodes[10].
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseUint(da, 10, 64)
			nb, _ := strconv.ParseUint(db, 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && i < 18 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
