package integration

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkKubernetes (`make bench`, -benchtime 1x): with default timings,
// the time from `cluster create --kubernetes` (3 control planes, 1 worker,
// processes) to a healthy cluster whose every control plane serves the
// Kubernetes API (cluster create waits for the kubernetes health check),
// and the resident memory of each process of one control plane a minute
// later: cairnd next to etcd and the Kubernetes components.
func BenchmarkKubernetes(b *testing.B) {
	kubectl(b)
	start := time.Now()
	c := createCluster(b, "benchk8s", 3, 1, "--kubernetes", "--wait-timeout", "6m")
	ready := time.Since(start)
	b.Run("CreateToAPIReady", func(b *testing.B) {
		b.ReportMetric(ready.Seconds(), "s")
	})
	time.Sleep(time.Minute) // past the start-up peaks
	n := c.node("cp1")
	b.Run("RSS", func(b *testing.B) {
		b.ReportMetric(rssKiB(b, n.PID)/1024, "cairnd-MiB")
		b.ReportMetric(rssKiB(b, etcdPID(b, n))/1024, "etcd-MiB")
		for _, comp := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			b.ReportMetric(rssKiB(b, componentPID(n, comp))/1024, strings.TrimPrefix(comp, "kube-")+"-MiB")
		}
	})
}
