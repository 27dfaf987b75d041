package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks report the numbers docs/benchmarks.md quotes; run them with
// `make bench`. They assert nothing about speed.

// BenchmarkFsyncFloor measures one 4 KiB O_DSYNC write in the same kind of
// directory the store uses: the physical floor of a durable write.
func BenchmarkFsyncFloor(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "floor"), os.O_CREATE|os.O_WRONLY|unix.O_DSYNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

// benchCluster starts 3 voters with the production timing profile.
func benchCluster(b *testing.B) *Store {
	c := newCluster(b, 3, func(cfg *Config) { cfg.Timing = DefaultTiming(); cfg.NoSync = os.Getenv("NOSYNC") != "" })
	return c.leader().store
}

// BenchmarkWriteSingleClient is one client writing sequentially to a
// 3-voter cluster: each write is durable on a quorum before the next.
func BenchmarkWriteSingleClient(b *testing.B) {
	s := benchCluster(b)
	ctx := ctxT(b)
	spec := make([]byte, 256)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := s.Put(ctx, "Bench", fmt.Sprint("k", i%1000), spec); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

// BenchmarkWrite64Clients is 64 concurrent writers on a 3-voter cluster:
// group commit batches their entries into shared appends and fsyncs.
func BenchmarkWrite64Clients(b *testing.B) {
	s := benchCluster(b)
	ctx := ctxT(b)
	spec := make([]byte, 256)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := s.Put(ctx, "Bench", fmt.Sprint("k", w, "-", i%100), spec); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

func benchReads(b *testing.B, mode ReadMode) {
	s := benchCluster(b)
	ctx := ctxT(b)
	if _, err := s.Put(ctx, "Bench", "k", make([]byte, 256)); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32) // 32 × GOMAXPROCS readers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Get(ctx, "Bench", "k", mode); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
}

// BenchmarkReadLinearizable: concurrent linearizable reads on the leader,
// sharing batched ReadIndex confirmations.
func BenchmarkReadLinearizable(b *testing.B) { benchReads(b, Linearizable) }

// BenchmarkReadStale: concurrent reads of the local replica.
func BenchmarkReadStale(b *testing.B) { benchReads(b, Stale) }

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.10), "p10-µs")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.90), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
