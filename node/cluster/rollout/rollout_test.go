package rollout

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
)

// cluster is a fake set of nodes that run what they were granted once
// told to (restart), reporting unhealthy in between.
type cluster struct {
	mu    sync.Mutex
	want  string
	nodes map[string]*Node
}

func (c *cluster) Want(context.Context) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.want, true
}

func (c *cluster) View(context.Context) ([]Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Node
	for _, name := range []string{"cp1", "cp2", "cp3"} {
		if n, ok := c.nodes[name]; ok {
			out = append(out, *n)
		}
	}
	return out, true
}

func (c *cluster) set(name, running string, healthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[name] = &Node{Name: name, Running: running, Healthy: healthy}
}

func granted(t *testing.T, s Store) map[string]string {
	t.Helper()
	rec, err := Get(context.Background(), s, "test")
	require.NoError(t, err)
	return rec.Granted
}

// TestRolloutOneNodeAtATime: first grants go to everyone at once; a change
// goes to one node, the next only once that node runs it and is healthy,
// the leader's own node last; a node down with a broken grant gets the
// next fix at once.
func TestRolloutOneNodeAtATime(t *testing.T) {
	s := testutil.OpenStore(t)
	ctx := context.Background()
	c := &cluster{want: "A", nodes: map[string]*Node{}}
	for _, n := range []string{"cp1", "cp2", "cp3"} {
		c.set(n, "", false) // starting
	}
	co, err := New(Config{Store: s, ID: "test", Self: "cp1", Want: c.Want, View: c.View})
	require.NoError(t, err)

	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, map[string]string{"cp1": "A", "cp2": "A", "cp3": "A"}, granted(t, s), "a first start is no restart")
	for _, n := range []string{"cp1", "cp2", "cp3"} {
		c.set(n, "A", true)
	}

	c.mu.Lock()
	c.want = "B"
	c.mu.Unlock()
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, map[string]string{"cp1": "A", "cp2": "B", "cp3": "A"}, granted(t, s), "one node, not the leader's")
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "A", granted(t, s)["cp3"], "cp2 has not restarted yet")

	c.set("cp2", "", false) // restarting
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "A", granted(t, s)["cp3"], "cp2 is restarting")
	c.set("cp2", "B", true)
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, map[string]string{"cp1": "A", "cp2": "B", "cp3": "B"}, granted(t, s), "then the next")

	c.set("cp3", "B", true)
	c.set("cp1", "A", false) // the leader's node is down (with the old settings)
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "B", granted(t, s)["cp1"], "a node down with old settings may take the new ones at once")

	// A broken grant: cp2 never comes back with C; a fixed D replaces it.
	c.set("cp1", "B", true)
	c.mu.Lock()
	c.want = "C"
	c.mu.Unlock()
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "C", granted(t, s)["cp2"])
	c.set("cp2", "", false)
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "B", granted(t, s)["cp3"], "cp2 is down with its grant: the others wait")
	c.mu.Lock()
	c.want = "D"
	c.mu.Unlock()
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, "D", granted(t, s)["cp2"], "the node that is out already gets the fix first")
	assert.Equal(t, "B", granted(t, s)["cp3"])
}

// A node that already runs what is wanted (it started fresh with it) is
// granted it without a restart, and a node the view no longer lists loses
// its grant.
func TestRolloutBookkeeping(t *testing.T) {
	s := testutil.OpenStore(t)
	ctx := context.Background()
	c := &cluster{want: "A", nodes: map[string]*Node{}}
	c.set("cp1", "A", true)
	c.set("cp2", "A", true)
	co, err := New(Config{Store: s, ID: "test", Self: "cp1", Want: c.Want, View: c.View})
	require.NoError(t, err)
	require.NoError(t, co.Pass(ctx))
	c.mu.Lock()
	c.want = "B"
	c.mu.Unlock()
	c.set("cp2", "B", true) // wiped and restarted with the new config
	delete(c.nodes, "cp1")
	require.NoError(t, co.Pass(ctx))
	assert.Equal(t, map[string]string{"cp2": "B"}, granted(t, s))
}
