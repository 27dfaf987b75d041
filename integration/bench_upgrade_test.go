package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRollingUpgrade (`make bench`) measures a 3+2 process-mode
// cluster's rolling upgrade v1 → v2 (default timings and step timeouts,
// one worker at a time) against the same nodes' single restarts: each
// node restarted alone (`cluster restart NODE --wait`) until the cluster
// is healthy again, summed; the goal is an upgrade within 1.2× that sum.
// Each node's downtime is the longest stretch its API did not answer,
// sampled every 100 ms.
func BenchmarkRollingUpgrade(b *testing.B) {
	v1 := buildRelease(b, "cairnd-v1.0.0", "./cmd/cairnd", "v1.0.0")
	v2 := buildRelease(b, "cairnd-v2.0.0", "./cmd/cairnd", "v2.0.0")
	c := createCluster(b, "benchup", 3, 2, "--cairnd", v1)
	u := newUpgradeClients(c)

	var restarts time.Duration
	for _, n := range c.state.Nodes {
		start := time.Now()
		out, err := c.ctl("cluster", "restart", n.Name, "--wait", "--name", c.name)
		require.NoError(b, err, out)
		out, err = c.ctl("health", "--wait", "--wait-timeout", "2m")
		require.NoError(b, err, out)
		restarts += time.Since(start)
	}

	stop := make(chan struct{})
	done := make(chan []sample)
	go func() { done <- u.sampleCluster(stop) }()
	start := time.Now()
	c.startUpgrade(b, v2)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		p := u.status(b)
		if p != nil && p.GetPhase() == "done" {
			break
		}
		require.True(b, time.Now().Before(deadline), "upgrade not done: %s", planSummary(p))
		require.False(b, p != nil && p.GetPhase() != "running", "upgrade stopped: %s", planSummary(p))
		time.Sleep(100 * time.Millisecond)
	}
	upgrade := time.Since(start)
	close(stop)
	samples := <-done

	longest := map[string]time.Duration{}
	downSince := map[string]time.Time{}
	for _, s := range samples {
		isDown := map[string]bool{}
		for _, n := range s.down {
			isDown[n] = true
			if _, ok := downSince[n]; !ok {
				downSince[n] = s.at
			}
		}
		for n, since := range downSince {
			if !isDown[n] {
				longest[n] = max(longest[n], s.at.Sub(since))
				delete(downSince, n)
			}
		}
	}
	var sum, worst time.Duration
	for _, d := range longest {
		sum += d
		worst = max(worst, d)
	}
	b.ReportMetric(upgrade.Seconds(), "upgrade-s")
	b.ReportMetric(restarts.Seconds(), "restarts-sum-s")
	b.ReportMetric(upgrade.Seconds()/restarts.Seconds(), "ratio")
	b.ReportMetric(worst.Seconds(), "max-node-down-s")
	if len(longest) > 0 {
		b.ReportMetric(sum.Seconds()/float64(len(longest)), "avg-node-down-s")
	}
}
