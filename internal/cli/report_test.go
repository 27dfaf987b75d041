package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
)

func TestReportErrorExitCodes(t *testing.T) {
	var b bytes.Buffer
	assert.Equal(t, 3, reportError(&b, fmt.Errorf("wrapped: %w", &ExitError{Code: 3})))
	assert.Empty(t, b.String(), "an ExitError prints nothing more")

	assert.Equal(t, 1, reportError(&b, fmt.Errorf("%w: bad flag", ErrUsage)))
	assert.Contains(t, b.String(), "Error: invalid usage: bad flag\n")
	assert.Contains(t, b.String(), "--help")
}

func TestReportErrorSpellsOutConflictsBehindEndpoints(t *testing.T) {
	var b bytes.Buffer
	err := &endpointsError{errs: []error{errors.New("down"), conflictError(4, 6)}}

	assert.Equal(t, 1, reportError(&b, err))
	assert.Contains(t, b.String(), "expected revision 4, current revision 6")
	assert.Contains(t, b.String(), "--expected-revision 6")
}

func TestReportErrorWithoutDetailsPrintsTheMessage(t *testing.T) {
	var b bytes.Buffer
	reportError(&b, connect.NewError(connect.CodeUnavailable, errors.New("no raft leader known")))
	assert.Equal(t, "Error: unavailable: no raft leader known\n", b.String())
}
