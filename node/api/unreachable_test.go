package api

import (
	"errors"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
)

// A node that did not answer is tried last for a while; one that answered,
// even with a refusal, keeps its place.
func TestUnreachableNodesAreTriedLast(t *testing.T) {
	var u unreachable
	names := []string{"cp1", "cp2", "cp3"}
	assert.Equal(t, names, u.last(names))

	u.record("cp1", false)
	assert.Equal(t, []string{"cp2", "cp3", "cp1"}, u.last(names))
	u.record("cp1", true)
	assert.Equal(t, names, u.last(names))

	refused := connect.NewError(connect.CodeUnavailable, errors.New("not the leader"))
	refused.Meta().Set(HeaderLeader, "cp2")
	assert.False(t, unreachableErr(refused), "a refusal is an answer")
	assert.True(t, unreachableErr(connect.NewError(connect.CodeUnavailable, errors.New("dial tcp: connection refused"))))
	assert.False(t, unreachableErr(connect.NewError(connect.CodeInvalidArgument, errors.New("bad"))))
}
