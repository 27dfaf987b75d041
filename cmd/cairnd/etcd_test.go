package main

import (
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/rootfs/image"
	"github.com/cairn-project/cairn/rootfs/images"
	"github.com/cairn-project/cairn/rootfs/initramfs"
)

func TestEtcdBinary(t *testing.T) {
	assert.Equal(t, image.EtcdPath, imageEtcd, "cairnd looks for etcd where the image puts it")
	assert.Equal(t, image.KubeBinDir, imageKubeDir, "and for the Kubernetes binaries")
	assert.Equal(t, image.CNIBinDir, kube.ImageCNIBinDir, "and for the CNI plugins")
	assert.Equal(t, image.WorkloadImagesPath, kube.ImageWorkloadImages, "and for the workload images")
	assert.Equal(t, path.Dir(image.NftPath), kube.ImageNftDir, "and for nft")
	assert.Equal(t, images.CoreDNSRef, kube.CoreDNSImage, "the cluster DNS runs the image rootfs/images packs")
	assert.Equal(t, initramfs.KubernetesModules, kube.KernelModules, "a VM loads the kernel modules its initramfs carries")
	self, err := os.Executable()
	assert.NoError(t, err)
	assert.Equal(t, filepath.Join(filepath.Dir(self), "etcd"), etcdBinary("", capability.ModeProcess))
	assert.Equal(t, imageEtcd, etcdBinary("", capability.ModePID1))
	assert.Equal(t, imageEtcd, etcdBinary("", capability.ModeContainer))
	assert.Equal(t, "/opt/etcd", etcdBinary("/opt/etcd", capability.ModeProcess))
	assert.Empty(t, etcdBinary("none", capability.ModeContainer))
}

func TestKubeBinDirDefaults(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, filepath.Dir(self), kubeBinDir("", capability.ModeProcess))
	assert.Equal(t, imageKubeDir, kubeBinDir("", capability.ModePID1))
	assert.Equal(t, imageKubeDir, kubeBinDir("", capability.ModeContainer))
	assert.Equal(t, "/opt/k8s", kubeBinDir("/opt/k8s", capability.ModeProcess))
	assert.Empty(t, kubeBinDir("none", capability.ModeContainer))
}
