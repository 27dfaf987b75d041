package formation

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProfileNamed(t *testing.T) {
	for _, name := range ProfileNames {
		p, err := ProfileNamed(name)
		require.NoError(t, err, name)
		assert.Less(t, p.Gossip.ProbeTimeout, p.Gossip.ProbeInterval, name)
		assert.LessOrEqual(t, p.Raft.LeaderLeaseTimeout, p.Raft.HeartbeatTimeout, name)
	}
	def, slow := DefaultProfile(), SlowProfile()
	assert.Equal(t, 3*def.Raft.HeartbeatTimeout, slow.Raft.HeartbeatTimeout)
	assert.Equal(t, 3*def.Raft.ElectionTimeout, slow.Raft.ElectionTimeout)
	assert.Equal(t, 3*def.Raft.LeaderLeaseTimeout, slow.Raft.LeaderLeaseTimeout)
	assert.Equal(t, def.Raft.CommitTimeout, slow.Raft.CommitTimeout, "a commit batch is not a failure timeout")
	assert.Greater(t, slow.Gossip.ProbeTimeout, def.Gossip.ProbeTimeout)
	assert.Equal(t, def.Autopilot, slow.Autopilot)
	fast, err := ProfileNamed(ProfileFast)
	require.NoError(t, err)
	assert.Equal(t, TestProfile(), fast)

	_, err = ProfileNamed("quick")
	require.ErrorContains(t, err, `timings "quick": not one of default, slow`)
}
