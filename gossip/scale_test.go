package gossip

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scaleResult is what one scale run measured.
type scaleResult struct {
	// converge is from the first join until every member saw every member
	// alive.
	converge time.Duration
	// bytesPerMember is heap plus goroutine stacks per member once
	// converged, with each member holding a full view.
	bytesPerMember float64
	// goroutinesPerMember is memberlist's goroutines per member.
	goroutinesPerMember float64
}

// runScale starts size nodes, joins them all through the first one at
// once, waits until every one sees size members alive, and closes them.
//
// The nodes share one process, hence one heap and one garbage collector,
// which at the default GOGC collects so often, with all nodes paused or
// assisting at once, that on one contended core probe acks miss
// TestConfig's deadlines and false suspicions snowball. Production runs one
// node per process; GOGC=400 here restores that headroom.
func runScale(tb testing.TB, size int) scaleResult {
	tb.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	before := heapAndStacks()
	goroutines := runtime.NumGoroutine()

	c := newTestCluster(tb, fmt.Sprintf("scale-%d", size), "key a")
	// Failure detection is not under test here: probe with the LAN
	// profile's timings, so that a loaded CI machine (other suites share
	// the two cores) does not turn slow acks into false suspicions that
	// snowball across 100 members. Joining and gossip keep the fast profile.
	lan := DefaultConfig()
	c.profile = func(cfg *Config) {
		cfg.ProbeInterval, cfg.ProbeTimeout = lan.ProbeInterval, lan.ProbeTimeout
		cfg.SuspicionMult, cfg.SuspicionMaxTimeoutMult = lan.SuspicionMult, lan.SuspicionMaxTimeoutMult
	}
	seed := c.add("seed", nil)
	start := time.Now()
	c.grow("n", size-1, seed)
	// Typically 2 s on two idle cores; up to ~15 s seen with the cores
	// shared by other test runs. The deadline only catches a hang.
	requireConvergedWithin(tb, c.nodes, 3*convergeTimeout)
	res := scaleResult{converge: time.Since(start)}

	res.bytesPerMember = float64(heapAndStacks()-before) / float64(size)
	res.goroutinesPerMember = float64(runtime.NumGoroutine()-goroutines) / float64(size)
	for _, n := range c.nodes {
		require.NoError(tb, n.Close())
	}
	return res
}

func heapAndStacks() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

// TestScale100Converge: 100 members in one process converge, every one
// seeing 100 alive (25 under the race detector). It runs in CI; timings are
// logged, not asserted.
func TestScale100Converge(t *testing.T) {
	if testing.Short() {
		t.Skip("100 nodes; skipped with -short")
	}
	size := 100
	if raceEnabled {
		// The race detector multiplies memberlist's CPU cost; 100 nodes
		// on two cores would test starvation, not correctness.
		size = 25
	}
	res := runScale(t, size)
	t.Logf("%d members: full membership after %v, %.0f KiB and %.1f goroutines per member",
		size, res.converge.Round(time.Millisecond), res.bytesPerMember/1024, res.goroutinesPerMember)
}

// BenchmarkScale100 reports time to full membership and memory per member
// for 100 members. Run it once:
//
//	go test -run x -bench Scale100 -benchtime 1x ./gossip/
func BenchmarkScale100(b *testing.B) {
	var total scaleResult
	for range b.N {
		res := runScale(b, 100)
		total.converge += res.converge
		total.bytesPerMember += res.bytesPerMember
		total.goroutinesPerMember += res.goroutinesPerMember
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.converge.Milliseconds())/n, "ms-to-full")
	b.ReportMetric(total.bytesPerMember/n, "B/member")
	b.ReportMetric(total.goroutinesPerMember/n, "goroutines/member")
}

// BenchmarkJoinPropagation measures how long a new node takes to appear
// alive in every view of a 10-member cluster, from the start of its Join.
//
//	go test -run x -bench JoinPropagation -benchtime 20x ./gossip/
func BenchmarkJoinPropagation(b *testing.B) {
	c := newTestCluster(b, "propagation", "key a")
	seed := c.add("seed", nil)
	c.grow("n", 9, seed)
	requireConverged(b, c.nodes)
	members := c.nodes

	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		newcomer := c.start(c.config(fmt.Sprintf("new-%d", i)))
		b.StartTimer()
		start := time.Now()
		join(b, newcomer, members[i%len(members)])
		require.Eventually(b, func() bool {
			for _, n := range members {
				if m, ok := n.Member(newcomer.Name()); !ok || m.State != StateAlive {
					return false
				}
			}
			return true
		}, convergeTimeout, time.Millisecond)
		total += time.Since(start)
		b.StopTimer()
		require.NoError(b, newcomer.Leave(b.Context()))
		require.NoError(b, newcomer.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-all")
}
