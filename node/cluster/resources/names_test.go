package resources_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cairn-project/cairn/node/cluster/resources"
	"github.com/cairn-project/cairn/node/machine/controllers"
)

// TestClusterAndNodeNamesNeverCollide guards the rule `cairnctl get`
// relies on: a name (type or alias, any case) means one type in one scope,
// so resolving it against both scopes is never ambiguous.
func TestClusterAndNodeNamesNeverCollide(t *testing.T) {
	node := map[string]string{}
	for _, d := range controllers.Definitions() {
		for _, n := range append([]string{d.Type}, d.Aliases...) {
			node[strings.ToLower(n)] = d.Type
		}
	}
	for _, d := range resources.Builtin() {
		for _, n := range d.Names() {
			owner, clash := node[strings.ToLower(n)]
			assert.False(t, clash, "cluster type %s's name %q is also a name of the node type %s", d.Type, n, owner)
		}
	}
}

func TestBuiltinNamesAreUnique(t *testing.T) {
	_, err := resources.New(resources.Builtin()...)
	assert.NoError(t, err)
}
