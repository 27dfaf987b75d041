package kube

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// containerd's config names the runtime and CNI directories it is given,
// and leaves pivot_root to runc except on a machine whose root is the
// initramfs.
func TestContainerdConfigTOML(t *testing.T) {
	c := Containerd{BinDir: "/usr/bin", CNIBinDir: "/opt/cni/bin", CNIConfDir: "/var/k/cni", Root: "/var/k/containerd", State: "/run/containerd"}
	got := string(c.ConfigTOML())
	assert.Contains(t, got, `BinaryName = "/usr/bin/runc"`)
	assert.Contains(t, got, `bin_dirs = ["/opt/cni/bin"]`)
	assert.Contains(t, got, `root = "/var/k/containerd"`)
	assert.Contains(t, got, "restrict_oom_score_adj = true")
	assert.Contains(t, got, "NoPivotRoot = false")
	c.NoPivotRoot = true
	assert.Contains(t, string(c.ConfigTOML()), "NoPivotRoot = true")
}

// The root's type is the topmost mount on /: a VM's initramfs is rootfs
// even after cairnd's read-only bind remount; a container's is overlay.
func TestRootFSType(t *testing.T) {
	vm := strings.Join([]string{
		"1 1 0:2 / / rw - rootfs none rw",
		"20 1 0:20 / /proc rw,nosuid - proc proc rw",
		"30 1 0:2 / / ro,relatime - rootfs none rw",
	}, "\n")
	assert.Equal(t, "rootfs", rootFSType(vm))
	docker := "612 540 0:51 / / ro,relatime master:1 - overlay overlay rw,lowerdir=/l\n613 612 0:54 / /proc rw - proc proc rw\n"
	assert.Equal(t, "overlay", rootFSType(docker))
	assert.Empty(t, rootFSType(""))
}
