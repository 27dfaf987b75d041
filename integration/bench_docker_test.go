package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkDockerCluster is `make bench`'s docker provisioner numbers: a
// 3+2 cluster of containers from create to healthy, first with the image
// missing (cluster create builds and loads it), then again with it loaded;
// the image's size; the idle memory of cairnd in a container. Default
// timings, as BenchmarkCluster. Run with -benchtime 1x.
func BenchmarkDockerCluster(b *testing.B) {
	requireDocker(b)
	version := fmt.Sprintf("bench-%d-%d", os.Getpid(), time.Now().Unix())
	tag := "cairn/cairnd:" + version
	cairnd := buildStaticCairnd(b, version)
	b.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "--force", tag).Run() })
	name := fmt.Sprintf("dbench%d", os.Getpid())
	args := []string{"--provisioner", "docker", "--cairnd", cairnd, "--image", tag}

	start := time.Now()
	c := createCluster(b, name, 3, 2, args...)
	withBuild := time.Since(start)
	out, err := c.ctl("cluster", "destroy", "--name", name)
	require.NoError(b, err, out)
	start = time.Now()
	c = createCluster(b, name, 3, 2, args...)
	created := time.Since(start)

	b.Run("CreateToHealthy", func(b *testing.B) {
		b.ReportMetric(created.Seconds(), "s")
		b.ReportMetric(withBuild.Seconds(), "with-image-build-s")
	})
	b.Run("ImageSize", func(b *testing.B) {
		size, err := strconv.ParseFloat(dockerOut(b, "image", "inspect", "--format", "{{.Size}}", tag), 64)
		require.NoError(b, err)
		b.ReportMetric(size/(1<<20), "MiB")
	})
	b.Run("IdleRSS", func(b *testing.B) {
		time.Sleep(3 * time.Second) // as BenchmarkCluster: let the new cluster settle
		var peak, sum, stages float64
		for _, n := range c.dockerShow(b).Nodes {
			// PID 1 is the image's boot stage; cairnd is its child.
			stage, err := strconv.Atoi(dockerOut(b, "container", "inspect", "--format", "{{.State.Pid}}", n.Machine))
			require.NoError(b, err)
			kib := rssKiB(b, containerCairnd(b, n.Machine, stage))
			sum += kib
			peak = max(peak, kib)
			stages += rssKiB(b, stage)
		}
		b.ReportMetric(sum/5/1024, "avg-MiB")
		b.ReportMetric(peak/1024, "max-MiB")
		b.ReportMetric(stages/5/1024, "boot-stage-avg-MiB")
	})
}

// containerCairnd is the host PID of the cairnd that the container's boot
// stage (host PID stage) runs: its child.
func containerCairnd(b testing.TB, machine string, stage int) int {
	b.Helper()
	top := dockerOut(b, "top", machine, "-eo", "pid,ppid,args")
	for _, line := range strings.Split(top, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == strconv.Itoa(stage) && strings.HasSuffix(f[2], "cairnd") {
			pid, err := strconv.Atoi(f[0])
			require.NoError(b, err)
			return pid
		}
	}
	b.Fatalf("no cairnd under the boot stage (pid %d) in %s:\n%s", stage, machine, top)
	return 0
}
