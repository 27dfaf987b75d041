package formation

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairn-project/cairn/gossip"
)

// BenchmarkFormation3 measures three control planes started at the same
// instant until one of them leads (barrier applied), with the production
// timing profile: the "3 simultaneous control planes to an elected leader"
// number in docs/benchmarks.md.
func BenchmarkFormation3(b *testing.B) {
	var total time.Duration
	for i := range b.N {
		c := newTestCluster(b, fmt.Sprintf("f%d-%d", i, time.Now().UnixNano()%1000), 3)
		var cfgs []Config
		for j := range 3 {
			cfg := c.config(fmt.Sprintf("cp%d", j+1), gossip.RoleControlPlane)
			cfg.Profile = DefaultProfile()
			cfgs = append(cfgs, cfg)
		}
		t0 := time.Now()
		for _, cfg := range cfgs {
			cfg.Seeds = []string{cfgs[0].GossipAddr}
			c.startWith(cfg)
		}
		c.leaderStore()
		total += time.Since(t0)
		c.closeAll()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-leader")
}
