package qemu

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClusterLayout(t *testing.T) {
	c := Cluster{Name: "a-rather-long-cluster-name", Dir: "/s/c", Subnet: 42, Kernel: "/k", Initramfs: "/i", Config: "/s/c/cluster.yaml"}
	other := Cluster{Name: "a-rather-long-cluster-name2", Subnet: 42}
	require.LessOrEqual(t, len(c.Network().Bridge), 15, "IFNAMSIZ")
	require.NotEqual(t, c.Network().Bridge, other.Network().Bridge, "shortened names stay distinct")
	require.Contains(t, c.Network().Namespace, c.Name)
	require.Equal(t, "10.42.0.0/24", c.CIDR())

	n := c.Node("worker12", 15)
	require.LessOrEqual(t, len(n.Tap), 15, "IFNAMSIZ")
	require.Equal(t, "cairn-a-rather-long-cluster-name-worker12", n.VM)
	vm := c.VM(n)
	require.Equal(t, "02:ca:2a:00:00:0f", vm.ClusterMAC.String())
	require.Equal(t, "02:ca:2a:01:00:0f", vm.HostMAC.String())
	require.Equal(t, []Forward{{Host: "127.0.42.15:6440", Guest: "10.0.2.15:6440"}}, vm.Forwards)
	require.Contains(t, vm.Cmdline, "cairn.node=worker12")
	require.Contains(t, vm.Cmdline, "cairn.config=fwcfg")
	require.Contains(t, vm.Cmdline, "cairn.hostnet=02:ca:2a:01:00:0f,10.0.2.15/24")

	args := strings.Join(vm.Args(), " ")
	require.Contains(t, args, "-fw_cfg name=opt/cairn/config,file=/s/c/cluster.yaml")
	require.Contains(t, args, "hostfwd=tcp:127.0.42.15:6440-10.0.2.15:6440")
	require.Contains(t, args, "restrict=on")

	require.NotContains(t, vm.Cmdline, "cairn.testservice")
	require.NotContains(t, vm.Cmdline, "cairn.timings", "no Timings: cairnd's own default")
	c.Timings = "slow"
	require.Contains(t, c.VM(n).Cmdline, " cairn.timings=slow")
	c.KernelArgs = "cairn.testservice=orphans loglevel=7"
	require.True(t, strings.HasSuffix(c.VM(n).Cmdline, " cairn.testservice=orphans loglevel=7"), "extra arguments come last: the kernel takes the last of a repeated one")
	c.KernelArgs = ""

	c.Config = ""
	vm = c.VM(n)
	require.NotContains(t, vm.Cmdline, "cairn.config", "no config: the node boots into maintenance mode")
	require.NotContains(t, strings.Join(vm.Args(), " "), "-fw_cfg")
}

// A Kubernetes VM is bigger and forwards its apiserver too; sizes the
// cluster names win over the defaults.
func TestClusterKubernetesVM(t *testing.T) {
	c := Cluster{Name: "k", Dir: "/s/k", Subnet: 42, Kernel: "/k", Initramfs: "/i"}
	vm := c.VM(c.Node("cp1", 1))
	require.Equal(t, DefaultMemoryMiB, vm.MemoryMiB)
	require.Equal(t, 1, vm.CPUs)
	require.Len(t, vm.Forwards, 1)

	c.Kubernetes = true
	vm = c.VM(c.Node("cp1", 1))
	require.Equal(t, KubernetesMemoryMiB, vm.MemoryMiB)
	require.Equal(t, KubernetesCPUs, vm.CPUs)
	require.Equal(t, []Forward{{Host: "127.0.42.1:6440", Guest: "10.0.2.15:6440"}, {Host: "127.0.42.1:6443", Guest: "10.42.0.1:6443"}}, vm.Forwards)
	require.Equal(t, "127.0.42.1:6443", c.HostKubeAPI(1))
	_, disk, _ := c.sizes()
	require.Equal(t, int64(KubernetesDiskSize), disk)
	require.Contains(t, strings.Join(vm.Args(), " "), "-m 3072 -smp 2")

	c.MemoryMiB, c.CPUs = 4096, 1
	vm = c.VM(c.Node("cp1", 1))
	require.Equal(t, 4096, vm.MemoryMiB)
	require.Equal(t, 1, vm.CPUs)
}
