package cli

import (
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// reportError prints err for a human and returns the exit code.
func reportError(w io.Writer, err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if lines, ok := detailLines(err); ok {
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		return 1
	}
	fmt.Fprintln(w, "Error:", err)
	if hint := errorHint(err); hint != "" {
		fmt.Fprintln(w, "Hint:", hint)
	}
	if errors.Is(err, ErrUsage) {
		fmt.Fprintln(w, "Run 'cairnctl --help' or 'cairnctl COMMAND --help' for usage.")
	}
	return 1
}

// errorHint returns the hint attached with withHint, or says what to do
// about an authentication or authorization failure of the node API, or
// returns "".
func errorHint(err error) string {
	var he *hintError
	if errors.As(err, &he) {
		return he.hint
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated:
		return "the node wants a client certificate signed by the cluster CA; check the context's crt and key"
	case connect.CodePermissionDenied:
		return "the roles of this context's client certificate do not allow this; an admin can issue another with 'cairnctl config new --roles ...'"
	}
	return tlsHint(err)
}

// hintError is an error with a hint for reportError to print.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHint attaches hint to err (nil stays nil).
func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// detailLines renders the structured details of an API error: each field
// violation on its own line, or a revision conflict with what to do next.
func detailLines(err error) ([]string, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil, false
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		switch v := v.(type) {
		case *clusterv1.ValidationErrors:
			return validationLines(v), true
		case *clusterv1.RevisionConflict:
			return conflictLines(v), true
		}
	}
	return nil, false
}

func validationLines(v *clusterv1.ValidationErrors) []string {
	out := []string{fmt.Sprintf("Error: the cluster configuration is invalid (%d %s):",
		len(v.GetViolations()), plural(len(v.GetViolations()), "problem", "problems"))}
	for _, fv := range v.GetViolations() {
		if fv.GetField() == "" {
			out = append(out, "  "+fv.GetDescription())
			continue
		}
		out = append(out, "  "+fv.GetField()+": "+fv.GetDescription())
	}
	return out
}

func conflictLines(v *clusterv1.RevisionConflict) []string {
	return []string{
		fmt.Sprintf("Error: the configuration changed since it was read: expected revision %d, current revision %d.",
			v.GetExpectedRevision(), v.GetCurrentRevision()),
		fmt.Sprintf("Review the current configuration (cairnctl config get), then re-run with --expected-revision %d,", v.GetCurrentRevision()),
		"or without --expected-revision to apply unconditionally.",
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
