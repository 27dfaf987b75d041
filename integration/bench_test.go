package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// BenchmarkCluster is the cluster benchmark harness (`make bench`): one
// 3+2 cluster of real processes, measured the way a user would see it. Run
// with -benchtime 1x; every metric is reported with b.ReportMetric.
func BenchmarkCluster(b *testing.B) {
	start := time.Now()
	c := createCluster(b, "bench", 3, 2)
	created := time.Since(start)
	b.Run("CreateToHealthy", func(b *testing.B) {
		b.ReportMetric(created.Seconds(), "s")
	})

	b.Run("IdleRSS", func(b *testing.B) {
		// Let the just-created cluster settle before reading memory.
		time.Sleep(3 * time.Second)
		var peak, sum float64
		for _, n := range c.state.Nodes {
			kib := rssKiB(b, n.PID)
			sum += kib
			peak = max(peak, kib)
		}
		b.ReportMetric(sum/float64(len(c.state.Nodes))/1024, "avg-MiB")
		b.ReportMetric(peak/1024, "max-MiB")
	})

	b.Run("ConfigPropagation", func(b *testing.B) {
		lat := propagation(b, c, 50)
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	})

	b.Run("GetConfig32Clients", func(b *testing.B) { getConfigLoad(b, c, grpcH2) })
	b.Run("GetConfig32ClientsConnectHTTP1", func(b *testing.B) { getConfigLoad(b, c, connectHTTP1) })

	b.Run("Failover", func(b *testing.B) {
		cp := c.byRole("controlplane")[0]
		st, err := c.client(cp.APIAddress).ConsensusStatus(ctxT(b, 5*time.Second), connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
		require.NoError(b, err)
		leader := c.node(st.Msg.LeaderName)
		var survivor nodeState
		for _, n := range c.byRole("controlplane") {
			if n.Name != leader.Name {
				survivor = n
			}
		}
		cl := c.client(survivor.APIAddress)
		cur, err := cl.GetConfig(ctxT(b, 5*time.Second), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(b, err)
		require.NoError(b, syscall.Kill(leader.PID, syscall.SIGKILL))
		killed := time.Now()
		for i := 0; ; i++ {
			doc := mutate(b, cur.Msg.Config, func(m map[string]any) {
				setKubernetesVersion(m, fmt.Sprintf("1.38.%d", i))
			})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := cl.ApplyConfig(ctx, connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc}))
			cancel()
			if err == nil {
				break
			}
			require.Less(b, time.Since(killed), 30*time.Second, "no write accepted after the leader was killed: %v", err)
		}
		b.ReportMetric(time.Since(killed).Seconds(), "kill-to-write-s")
	})
}

// propagation applies n config changes through the leader and measures, for
// each, the time until every node's config watch has delivered it.
func propagation(b testing.TB, c *localCluster, n int) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type seen struct {
		node string
		rev  uint64
		at   time.Time
	}
	events := make(chan seen, 1024)
	for _, nd := range c.state.Nodes {
		stream, err := c.client(nd.APIAddress).WatchConfig(ctx, connect.NewRequest(&clusterv1.WatchConfigRequest{}))
		require.NoError(b, err)
		go func() {
			for stream.Receive() {
				events <- seen{nd.Name, stream.Msg().Revision, time.Now()}
			}
		}()
	}
	cp := c.byRole("controlplane")[0]
	cl := c.client(cp.APIAddress)
	var lat []time.Duration
	for i := range n {
		cur, err := cl.GetConfig(ctxT(b, 5*time.Second), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(b, err)
		doc := mutate(b, cur.Msg.Config, func(m map[string]any) {
			setKubernetesVersion(m, fmt.Sprintf("1.40.%d", i))
		})
		t0 := time.Now()
		res, err := cl.ApplyConfig(ctxT(b, 5*time.Second), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc}))
		require.NoError(b, err)
		got := map[string]bool{}
		deadline := time.After(10 * time.Second)
		for len(got) < len(c.state.Nodes) {
			select {
			case e := <-events:
				if e.rev >= res.Msg.Revision && !got[e.node] {
					got[e.node] = true
					if len(got) == len(c.state.Nodes) {
						lat = append(lat, e.at.Sub(t0))
					}
				}
			case <-deadline:
				b.Fatalf("revision %d reached only %v", res.Msg.Revision, got)
			}
		}
	}
	return lat
}

func rssKiB(b testing.TB, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			require.NoError(b, err)
			return v
		}
	}
	b.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type protocol int

const (
	grpcH2       protocol = iota // gRPC over HTTP/2 (TLS), as grpcurl and buf curl --protocol grpc
	connectHTTP1                 // the Connect protocol over HTTP/1.1 (TLS), as curl or a browser
)

// getConfigLoad runs 32 concurrent clients, each with its own connection,
// doing linearizable GetConfig on one control plane for 5 s.
func getConfigLoad(b *testing.B, c *localCluster, p protocol) {
	cp := c.byRole("controlplane")[0]
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(cp.APIAddress)
			if p == connectHTTP1 {
				// A custom TLS configuration without ForceAttemptHTTP2 stays on HTTP/1.1.
				h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: c.admin.tls.Clone()}}
				cl = clusterv1connect.NewClusterServiceClient(h1, "https://"+cp.APIAddress)
			}
			for ctx.Err() == nil {
				if _, err := cl.GetConfig(ctx, connect.NewRequest(&clusterv1.GetConfigRequest{})); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n.Load())/time.Since(t0).Seconds(), "req/s")
}
