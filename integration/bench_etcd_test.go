package integration

import (
	"testing"
	"time"
)

// BenchmarkEtcd (`make bench`, -benchtime 1x): with default timings, as a
// user gets them, the time from `cluster create` to one etcd cluster whose
// three voters are the control planes, and the time for a control plane
// added to the config to join as a learner and be promoted (Talos's anchor:
// about 135 s per learner, siderolabs/talos#14097, before its fix).
func BenchmarkEtcd(b *testing.B) {
	start := time.Now()
	c := createCluster(b, "benchetcd", 3, 0)
	c.awaitEtcd(b, 3*time.Minute, "cp1", "cp2", "cp3")
	voters := time.Since(start)
	b.Run("CreateToThreeVoters", func(b *testing.B) {
		b.ReportMetric(voters.Seconds(), "s")
	})
	b.Run("LearnerPromotion", func(b *testing.B) {
		begin := time.Now()
		added := c.addControlPlane(b, "cp4", "default")
		learner, voter := c.awaitPromoted(b, added, 4, begin, 3*time.Minute)
		b.ReportMetric(learner.Seconds(), "to-learner-s")
		b.ReportMetric(voter.Seconds(), "to-voter-s")
	})
}
