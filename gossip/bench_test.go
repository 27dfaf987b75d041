package gossip

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkFailureDetection measures, with TestConfig's timings, how long
// after a member of five stops without leaving every other member sees it
// dead; the bound it is reported beside is Config.FailureDetectionTime, the
// worst case memberlist's suspicion allows. Tests assert only that the
// death is detected (TestDeadMemberDetected).
//
//	go test -run x -bench FailureDetection -benchtime 5x ./gossip/
func BenchmarkFailureDetection(b *testing.B) {
	var total time.Duration
	for i := range b.N {
		b.StopTimer()
		c := newTestCluster(b, fmt.Sprintf("detect-%d", i), "key a")
		seed := c.add("cp-0", nil)
		c.grow("n", 4, seed)
		requireConverged(b, c.nodes)
		victim, survivors := c.nodes[2], append(c.nodes[:2:2], c.nodes[3:]...)
		b.StartTimer()

		stopped := time.Now()
		require.NoError(b, victim.Close())
		poll := time.NewTicker(time.Millisecond)
		for !deadEverywhere(survivors, victim.Name()) {
			// A deadline against a hang, not a speed assertion.
			require.Less(b, time.Since(stopped), convergeTimeout, "not detected: %s", viewSummary(survivors))
			<-poll.C
		}
		total += time.Since(stopped)
		poll.Stop()

		b.StopTimer()
		for _, n := range c.nodes {
			require.NoError(b, n.Close())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-dead")
	b.ReportMetric(float64(TestConfig().FailureDetectionTime(5).Milliseconds()), "bound-ms")
}
