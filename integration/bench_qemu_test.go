package integration

import (
	"os"
	"testing"
	"time"
)

// BenchmarkQEMU measures the qemu provisioner as a user sees it (`make
// bench`, -benchtime 1x): the boot files' sizes, one VM from cluster
// create until its API serves a healthy one-node cluster, three VMs until
// the cluster is healthy, the memory of cairnd as PID 1, and a reboot of
// one VM until the cluster is healthy again.
func BenchmarkQEMU(b *testing.B) {
	requireQEMU(b)
	kernel, initrd := bootFiles(b)
	b.Run("BootFiles", func(b *testing.B) {
		for _, f := range []struct{ path, unit string }{{kernel, "vmlinuz-MiB"}, {initrd, "initramfs-MiB"}} {
			fi, err := os.Stat(f.path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), f.unit)
		}
	})

	b.Run("OneVMToAPI", func(b *testing.B) {
		start := time.Now()
		c := createQEMUClusterFrom(b, "qbench1", 1, kernel, initrd)
		b.ReportMetric(time.Since(start).Seconds(), "s")
		if out, err := c.ctl("cluster", "destroy", "--name", c.name); err != nil {
			b.Fatalf("destroy: %v\n%s", err, out)
		}
	})

	// The cluster belongs to the top benchmark, so that it outlives the
	// sub-benchmarks that measure it.
	start := time.Now()
	c := createQEMUClusterFrom(b, "qbench3", 3, kernel, initrd)
	created := time.Since(start)
	b.Run("ThreeVMsToHealthy", func(b *testing.B) { b.ReportMetric(created.Seconds(), "s") })

	b.Run("PID1RSS", func(b *testing.B) {
		// Let the just-formed cluster settle before reading memory.
		time.Sleep(5 * time.Second)
		var peak, sum float64
		nodes := []string{"cp1", "cp2", "cp3"}
		for _, ps := range machineJSON[struct {
			Processes []struct {
				PID      int    `json:"pid"`
				RSSBytes uint64 `json:"rssBytes"`
			} `json:"processes"`
		}](b, c, nodes, "ps") {
			for _, p := range ps.Processes {
				if p.PID == 1 {
					mib := float64(p.RSSBytes) / (1 << 20)
					sum += mib
					peak = max(peak, mib)
				}
			}
		}
		b.ReportMetric(sum/float64(len(nodes)), "avg-MiB")
		b.ReportMetric(peak, "max-MiB")
	})

	b.Run("RebootWait", func(b *testing.B) {
		// reboot(2) in the VM until the node is back with a new boot ID
		// and the cluster is healthy again.
		start := time.Now()
		if out, err := c.ctl("-n", "cp2", "reboot", "--wait", "--wait-timeout", qemuWait.String()); err != nil {
			b.Fatalf("reboot: %v\n%s", err, out)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s")
	})
}
