package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// BenchmarkKubernetesDocker (`make bench`): `cluster create --provisioner
// docker --kubernetes` of 3 control planes and 1 worker (default timings)
// to every node Ready (cluster create waits for the health check, whose
// kubernetes line needs every kubelet Ready; anchor: Talos's docs say its
// docker clusters take "a minute or more"), the image built beforehand
// and not counted; then the resident memory of one control plane's
// processes a minute later: cairnd next to kubelet, containerd, etcd and
// kube-apiserver (a static pod: its argv[0] is the bare name).
func BenchmarkKubernetesDocker(b *testing.B) {
	requireDocker(b)
	version := fmt.Sprintf("bench-%d", os.Getpid())
	tag := "cairn/cairnd:" + version + "-k8s"
	cairnd := buildStaticCairnd(b, version)
	archive := kubeNodeFiles(b, cairnd, version)
	b.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "--force", tag).Run() })
	// The image first (a cluster of one, destroyed), so that the
	// measured create starts containers only.
	warm := createCluster(b, fmt.Sprintf("bkw%d", os.Getpid()), 1, 0, "--provisioner", "docker", "--cairnd", cairnd, "--image", tag,
		"--images", archive, "--kubernetes", "--wait-timeout", "10m")
	out, err := warm.ctl("cluster", "destroy", "--name", warm.name)
	require.NoError(b, err, out)
	name := fmt.Sprintf("bkd%d", os.Getpid())
	start := time.Now()
	createCluster(b, name, 3, 1, "--provisioner", "docker", "--cairnd", cairnd, "--image", tag, "--images", archive,
		"--kubernetes", "--wait-timeout", "10m")
	ready := time.Since(start)
	b.Run("CreateToAllNodesReady", func(b *testing.B) { b.ReportMetric(ready.Seconds(), "s") })
	time.Sleep(time.Minute) // past the start-up peaks
	machine := fmt.Sprintf("cairn-%s-cp1", name)
	b.Run("RSS", func(b *testing.B) {
		for _, p := range []struct{ argv0, unit string }{
			{"/usr/bin/cairnd", "cairnd-MiB"}, {"/usr/bin/kubelet", "kubelet-MiB"}, {"/usr/bin/containerd", "containerd-MiB"},
			{"/usr/bin/etcd", "etcd-MiB"}, {"kube-apiserver", "apiserver-MiB"}, {"/usr/bin/kube-proxy", "kube-proxy-MiB"},
		} {
			pid := dockerProcess(b, machine, p.argv0)
			require.NotZero(b, pid, "%s runs %s", machine, p.argv0)
			b.ReportMetric(rssKiB(b, pid)/1024, p.unit)
		}
	})
}
