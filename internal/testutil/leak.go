// Package testutil holds helpers shared by tests of several packages.
package testutil

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// RaftLeak is the one goroutine a raft shutdown may leave: a VerifyLeader
// queued inside raft is never answered (see consensus/read.go).
var RaftLeak = goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error")

// WaitNoLeaks waits, up to 5 s, until no goroutine but the ignored ones is
// left. memberlist's last probe of a stopped member ends on its own within a
// probe interval after Close returns, so a plain goleak check right after a
// test would flag it. Polled by hand: require.Eventually's own goroutine
// would count as a leak.
func WaitNoLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	err := goleak.Find(opts...)
	for err != nil && time.Now().Before(deadline) {
		<-tick.C
		err = goleak.Find(opts...)
	}
	require.NoError(t, err)
}

// SpawnerLeak is the supervisor's forking goroutine, which lives as long as
// the process by design (node/machine/supervisor/process.go, spawn).
var SpawnerLeak = goleak.IgnoreAnyFunction("github.com/cairn-project/cairn/node/machine/supervisor.spawn.func1.1")
