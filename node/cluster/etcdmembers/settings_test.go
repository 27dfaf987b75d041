package etcdmembers

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// settingsOf returns each member's granted settings, by name.
func settingsOf(rec Record) map[string]string {
	out := map[string]string{}
	for _, m := range rec.Members {
		out[m.Name] = m.Settings
	}
	return out
}

// A change of the etcd settings is granted to one member at a time: the
// next only once the previous one's node reports its member runs them,
// and never while a voter is unhealthy. The leader's own member goes last.
func TestSettingsRollOutOneMemberAtATime(t *testing.T) {
	e, c := threeVoters(t)
	want := "new"
	c.cfg.Settings = func(context.Context) (string, bool) { return want, true }
	report := func(name, settings string) {
		n := e.view.nodes[name]
		n.EtcdSettings = settings
		e.view.set(n)
	}
	for _, n := range []string{"cp1", "cp2", "cp3"} {
		report(n, "old")
	}

	require.NoError(t, e.pass(c))
	assert.Equal(t, map[string]string{"cp1": "", "cp2": "new", "cp3": ""}, settingsOf(e.record()), "cp2 first (cp1 leads)")
	require.NoError(t, e.pass(c))
	assert.Equal(t, map[string]string{"cp1": "", "cp2": "new", "cp3": ""}, settingsOf(e.record()), "cp2 does not run them yet")

	report("cp2", "new")
	e.etcd.setDown(e.etcd.byName("cp3").ID, true)
	require.NoError(t, e.pass(c))
	assert.Equal(t, "", settingsOf(e.record())["cp3"], "not while a voter is down")

	e.etcd.setDown(e.etcd.byName("cp3").ID, false)
	require.NoError(t, e.pass(c))
	assert.Equal(t, "new", settingsOf(e.record())["cp3"])
	require.NoError(t, e.pass(c))
	assert.Equal(t, "", settingsOf(e.record())["cp1"], "the leader waits for cp3")

	report("cp3", "new")
	require.NoError(t, e.pass(c))
	assert.Equal(t, map[string]string{"cp1": "new", "cp2": "new", "cp3": "new"}, settingsOf(e.record()))
	report("cp1", "new")
	v := e.record().Version
	require.NoError(t, e.pass(c))
	assert.Equal(t, v, e.record().Version, "nothing more to do")
}
