package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/rootfs/image"
	"github.com/cairn-project/cairn/rootfs/initramfs"
)

// kubeBootFiles builds the kernel and the Kubernetes initramfs, as `make
// initramfs-kubernetes` does: the static cairnd as /init, etcd, and what
// a Kubernetes node ships (kubeNodeFiles) with the kernel modules it
// needs, uncompressed.
func kubeBootFiles(t testing.TB, version string) (kernel, initrd string) {
	t.Helper()
	cairnd := buildStaticCairnd(t, version)
	archive := kubeNodeFiles(t, cairnd, version)
	extra, err := image.KubernetesInitramfs(filepath.Dir(cairnd), archive)
	require.NoError(t, err)
	res, err := initramfs.Build(context.Background(), initramfs.Options{
		Cairnd: cairnd, Etcd: filepath.Join(filepath.Dir(cairnd), "etcd"), OutDir: t.TempDir(),
		Modules: slices.Concat(initramfs.DefaultModules, initramfs.KubernetesModules),
		Extra:   extra, Name: initramfs.KubernetesName,
	})
	require.NoError(t, err)
	if fi, err := os.Stat(res.Initramfs); err == nil {
		t.Logf("Kubernetes initramfs: %d MiB, %d entries", fi.Size()>>20, len(res.Paths))
	}
	return res.Kernel, res.Initramfs
}

// TestKubernetesQEMUMode: a VM booted from the Kubernetes initramfs,
// cairnd as the kernel's init, runs Kubernetes as the node containers do:
// the kernel modules loaded by cairnd (no modprobe), containerd with the
// workload images imported from the initramfs, the control plane as
// static pods, its kubelet Ready with a pod CIDR; the test application's
// two pods reach each other over the node's bridge and through a
// ClusterIP Service and its DNS name (kube-proxy's nftables, CoreDNS);
// kubectl on the host reaches the apiserver through the VM's forward of
// 127.0.N.1:6443. One control plane: a second VM under TCG on two cores
// made every step of both take twice as long (docs/benchmarks.md); pods
// across nodes are TestKubernetesDockerMode's.
func TestKubernetesQEMUMode(t *testing.T) {
	requireQEMU(t)
	name := fmt.Sprintf("k8sq%d", os.Getpid())
	version := fmt.Sprintf("it-%d-%d", os.Getpid(), time.Now().Unix())
	kernel, initrd := kubeBootFiles(t, version)

	start := time.Now()
	c := createCluster(t, name, 1, 0, "--provisioner", "qemu", "--kernel", kernel, "--initramfs", initrd,
		"--kubernetes", "--wait-timeout", "15m")
	t.Logf("qemu cluster of one control plane with Kubernetes: created and healthy (its node Ready) in %s", time.Since(start).Round(time.Second))
	kcfg := filepath.Join(c.dir, "kubeconfig")
	out, err := c.ctl("kubeconfig", "--merge=false", kcfg)
	require.NoError(t, err, out)

	t.Run("EveryNodeReadyWithAPodCIDR", func(t *testing.T) {
		nodes, err := kubeNodes(t, kcfg)
		require.NoError(t, err)
		var names []string
		for _, n := range nodes {
			names = append(names, n.Metadata.Name)
			assert.True(t, n.ready(), "%s is Ready", n.Metadata.Name)
			assert.NotEmpty(t, n.Spec.PodCIDR, "%s has a pod CIDR", n.Metadata.Name)
		}
		slices.Sort(names)
		assert.Equal(t, []string{"cp1"}, names)
		out, err := c.ctl("-n", "cp1", "get", "BootStatus", "-o", "json")
		require.NoError(t, err, out)
		var boot struct {
			Resources []struct {
				Spec struct {
					Stages []struct{ Name, State, Detail string } `json:"stages"`
				} `json:"spec"`
			} `json:"resources"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &boot), out)
		require.Len(t, boot.Resources, 1, out)
		stages := map[string]string{}
		for _, s := range boot.Resources[0].Spec.Stages {
			stages[s.Name] = s.State + " " + s.Detail
		}
		for _, m := range []string{"overlay", "br_netfilter", "nf_tables", "nft_ct"} {
			assert.Equal(t, "ok loaded", stages["module "+m], "cairnd loaded %s for kubelet", m)
		}
		assert.Contains(t, stages["kubelet host"], "ok", "/ rshared and a machine id")
	})

	t.Run("ControlPlaneRunsAsStaticPods", func(t *testing.T) {
		staticPodsRunning(t, kcfg, []string{"cp1"}, 5*time.Minute)
	})

	t.Run("PodsReachEachOtherAndAService", func(t *testing.T) {
		ps := deployEcho(t, kcfg, c.dir, version, false, 8*time.Minute)
		podsReachEachOther(t, kcfg, ps)
		serviceReachesEveryPod(t, kcfg, ps, 8*time.Minute)
	})
}
