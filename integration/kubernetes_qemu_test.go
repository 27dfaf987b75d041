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
// cairnd as the kernel's init, runs a Kubernetes node's machinery as the
// node containers do: the kernel modules loaded by cairnd (no modprobe),
// / shared and a machine ID, containerd with the workload images imported
// from the initramfs, kubelet, and the control plane as static pods whose
// containers run from the imported images (runc without pivot_root: the
// root is the initramfs); then, through the host's forward of the VM's
// apiserver, the apiserver is ready, the node Ready with a pod CIDR, a
// Deployment of the test application runs, its pods reach each other, and
// a ClusterIP Service and its DNS name reach both (kube-proxy's nftables
// rules, which need kernel modules a node container finds loaded by its
// host). Under TCG this takes minutes (docs/benchmarks.md has them).
func TestKubernetesQEMUMode(t *testing.T) {
	requireQEMU(t)
	name := fmt.Sprintf("k8sq%d", os.Getpid())
	version := fmt.Sprintf("it-%d-%d", os.Getpid(), time.Now().Unix())
	kernel, initrd := kubeBootFiles(t, version)

	start := time.Now()
	c := createCluster(t, name, 1, 0, "--provisioner", "qemu", "--kernel", kernel, "--initramfs", initrd,
		"--kubernetes", "--wait=false")
	const wait = 12 * time.Minute

	t.Run("BootLoadsTheKernelModulesAndPreparesTheMachine", func(t *testing.T) {
		var stages map[string]string
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			out, err := c.ctl("-n", "cp1", "get", "BootStatus", "-o", "json")
			if !assert.NoError(ct, err, out) {
				return
			}
			var boot struct {
				Resources []struct {
					Spec struct {
						Stages []struct{ Name, State, Detail string } `json:"stages"`
					} `json:"spec"`
				} `json:"resources"`
			}
			if assert.NoError(ct, json.Unmarshal([]byte(out), &boot), out) && assert.Len(ct, boot.Resources, 1, out) {
				stages = map[string]string{}
				for _, s := range boot.Resources[0].Spec.Stages {
					stages[s.Name] = s.State + " " + s.Detail
				}
			}
		}, qemuWait, 2*time.Second)
		for _, m := range []string{"overlay", "bridge", "br_netfilter", "nf_tables", "nft_ct", "nft_nat"} {
			assert.Equal(t, "ok loaded", stages["module "+m], "cairnd loaded %s for kubelet", m)
		}
		assert.Contains(t, stages["kubelet host"], "ok", "/ rshared and a machine id")
	})

	t.Run("ContainerdImportsTheImagesAndKubeletRuns", func(t *testing.T) {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			out, err := c.ctl("services", "-n", "cp1", "-o", "json")
			if !assert.NoError(ct, err, out) {
				return
			}
			var svcs struct {
				Services []serviceRow `json:"services"`
			}
			if !assert.NoError(ct, json.Unmarshal([]byte(out), &svcs), out) {
				return
			}
			state := map[string]string{}
			for _, s := range svcs.Services {
				state[s.Name] = s.State
			}
			assert.Equal(ct, "SERVICE_STATE_RUNNING", state["containerd"])
			assert.Equal(ct, "SERVICE_STATE_FINISHED", state["image-import"], "the workload images are imported")
			assert.Equal(ct, "SERVICE_STATE_RUNNING", state["kubelet"])
		}, wait, 5*time.Second)
		t.Logf("kubelet runs %s after create began", time.Since(start).Round(time.Second))
	})

	t.Run("ControlPlaneContainersRunFromTheImportedImages", func(t *testing.T) {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			for _, comp := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
				out, err := c.ctl("get", "kubepodstatus", comp, "-n", "cp1", "-o", "json")
				if !assert.NoError(ct, err, out) {
					continue
				}
				var st struct {
					Resources []struct {
						Spec struct {
							State string `json:"state"`
							PID   int    `json:"pid"`
						} `json:"spec"`
					} `json:"resources"`
				}
				if assert.NoError(ct, json.Unmarshal([]byte(out), &st), out) && assert.Len(ct, st.Resources, 1, out) {
					assert.Equal(ct, "running", st.Resources[0].Spec.State, "%s's container runs", comp)
					assert.NotZero(ct, st.Resources[0].Spec.PID, comp)
				}
			}
		}, wait, 5*time.Second)
		t.Logf("the control plane's static pods run %s after create began", time.Since(start).Round(time.Second))
	})

	kcfg := filepath.Join(c.dir, "kubeconfig")
	out, err := c.ctl("kubeconfig", "--merge=false", kcfg)
	require.NoError(t, err, out)

	t.Run("TheNodeIsReady", func(t *testing.T) {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			out, err := kubectlRun(t, kcfg, "get", "--raw", "/readyz")
			assert.NoError(ct, err, "apiserver /readyz: %s", out)
		}, wait, 5*time.Second)
		t.Logf("the apiserver is ready %s after create began", time.Since(start).Round(time.Second))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			nodes, err := kubeNodes(t, kcfg)
			if assert.NoError(ct, err) && assert.Len(ct, nodes, 1) {
				assert.True(ct, nodes[0].ready(), "cp1 is Ready")
				assert.NotEmpty(ct, nodes[0].Spec.PodCIDR, "cp1 has a pod CIDR")
			}
		}, wait, 5*time.Second)
		t.Logf("the node is Ready %s after create began", time.Since(start).Round(time.Second))
	})

	var echoPods []pod
	t.Run("DeploymentPodsReachEachOther", func(t *testing.T) {
		echoPods = deployEcho(t, kcfg, c.dir, version, false, 6*time.Minute)
		podsReachEachOther(t, kcfg, echoPods)
		t.Logf("the Deployment runs %s after create began", time.Since(start).Round(time.Second))
	})

	t.Run("ClusterIPServiceAndItsDNSName", func(t *testing.T) {
		serviceReachesEveryPod(t, kcfg, echoPods, 8*time.Minute)
		t.Logf("Service and DNS answer %s after create began", time.Since(start).Round(time.Second))
	})
}
