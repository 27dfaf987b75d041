package integration

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// BenchmarkWorkerFailover measures, per kind of control-plane fault, how
// long calls through the workers are disrupted (`make bench`; issue 9 asks
// for at most 2 s). One 3+2 cluster with default timings; every worker runs
// linearizable GetConfig calls back to back, and the first worker also
// writes, each call with a 2 s deadline, while the fault is injected:
//
//   - pause: SIGSTOP of the leader's cairnd for 3 s, then SIGCONT;
//   - kill: SIGKILL of the leader's cairnd (its boot stage restarts it);
//   - all-restart: SIGKILL of every control plane's cairnd at once.
//
// Metrics: *-read-gap-ms and *-write-gap-ms are the longest time between two
// successful answers on any worker (failures and stalls alike);
// *-read-failed-ms is the longest run of failed reads, from the start of
// the first to the end of the last.
func BenchmarkWorkerFailover(b *testing.B) {
	c := createCluster(b, "failbench", 3, 2)
	for _, fault := range []struct {
		name   string
		inject func(b *testing.B)
	}{
		{"pause", func(b *testing.B) {
			leader := c.leader(b)
			c.signal(b, leader, syscall.SIGSTOP)
			time.Sleep(3 * time.Second) // the fault itself: a 3 s pause
			c.signal(b, leader, syscall.SIGCONT)
		}},
		{"kill", func(b *testing.B) {
			c.signal(b, c.leader(b), syscall.SIGKILL)
		}},
		{"all-restart", func(b *testing.B) {
			for _, cp := range c.byRole("controlplane") {
				c.signal(b, cp.Name, syscall.SIGKILL)
			}
		}},
	} {
		out, err := c.ctl("health", "--wait", "--wait-timeout", "120s")
		require.NoError(b, err, out)
		c.awaitRunning(b)
		p := c.startProbes(b)
		time.Sleep(time.Second) // a baseline of successes before the fault
		fault.inject(b)
		time.Sleep(10 * time.Second) // long enough for any recovery to show
		reads, writes := p.stop()
		b.ReportMetric(ms(reads.maxGap()), fault.name+"-read-gap-ms")
		b.ReportMetric(ms(reads.maxFailed()), fault.name+"-read-failed-ms")
		b.ReportMetric(ms(writes.maxGap()), fault.name+"-write-gap-ms")
	}
}

// call is one probe call's outcome.
type call struct {
	start, end time.Time
	ok         bool
}

// calls are one worker's probe calls, in order.
type calls []call

// probeSet is every worker's calls; maxGap and maxFailed take the worst.
type probeSet []calls

func (ps probeSet) maxGap() time.Duration {
	var worst time.Duration
	for _, cs := range ps {
		var last time.Time
		for _, c := range cs {
			if !c.ok {
				continue
			}
			if !last.IsZero() {
				worst = max(worst, c.end.Sub(last))
			}
			last = c.end
		}
	}
	return worst
}

func (ps probeSet) maxFailed() time.Duration {
	var worst time.Duration
	for _, cs := range ps {
		var first time.Time
		for _, c := range cs {
			switch {
			case !c.ok && first.IsZero():
				first = c.start
				worst = max(worst, c.end.Sub(first))
			case !c.ok:
				worst = max(worst, c.end.Sub(first))
			default:
				first = time.Time{}
			}
		}
	}
	return worst
}

// probes runs calls through the workers until stop.
type probes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	reads  probeSet
	writes probeSet
}

// startProbes starts a reader on every worker and a writer on the first.
func (c *localCluster) startProbes(b *testing.B) *probes {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probes{cancel: cancel}
	workers := c.byRole("worker")
	p.reads = make(probeSet, len(workers))
	p.writes = make(probeSet, 1)
	for i, w := range workers {
		cl := c.client(w.APIAddress)
		p.wg.Go(func() {
			p.reads[i] = probe(ctx, func(ctx context.Context) error {
				_, err := cl.GetConfig(ctx, connect.NewRequest(&clusterv1.GetConfigRequest{}))
				return err
			})
		})
	}
	cl := c.client(workers[0].APIAddress)
	cur := c.getConfig(b, workers[0].APIAddress, false)
	n := 0
	p.wg.Go(func() {
		p.writes[0] = probe(ctx, func(ctx context.Context) error {
			n++
			doc := mutate(b, cur.Config, func(m map[string]any) {
				setKubernetesVersion(m, fmt.Sprintf("1.40.%d", n))
			})
			_, err := cl.ApplyConfig(ctx, connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc}))
			return err
		})
	})
	return p
}

// probe calls fn back to back, each call with a 2 s deadline and 20 ms
// apart, until ctx ends.
func probe(ctx context.Context, fn func(context.Context) error) calls {
	var out calls
	for ctx.Err() == nil {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := fn(cctx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		out = append(out, call{start: start, end: time.Now(), ok: err == nil})
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return out
}

func (p *probes) stop() (reads, writes probeSet) {
	p.cancel()
	p.wg.Wait()
	return p.reads, p.writes
}
