package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindBootFile(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	require.NoError(t, os.WriteFile(kernel, []byte("bzImage"), 0o644))
	got, err := findBootFile(kernel, "vmlinuz", "--kernel", "make initramfs")
	require.NoError(t, err)
	require.Equal(t, kernel, got)

	_, err = findBootFile(filepath.Join(dir, "missing"), "vmlinuz", "--kernel", "make initramfs")
	require.ErrorIs(t, err, ErrBootFiles)
	require.ErrorContains(t, err, "--kernel")
	_, err = findBootFile(dir, "vmlinuz", "--kernel", "make initramfs")
	require.ErrorIs(t, err, ErrBootFiles, "a directory is not a kernel")

	t.Chdir(dir) // no _out here
	_, err = findBootFile("", "initramfs.cpio.gz", "--initramfs", "make initramfs")
	require.ErrorIs(t, err, ErrBootFiles)
	require.ErrorContains(t, err, "make initramfs")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "_out"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_out", "initramfs.cpio.gz"), nil, 0o644))
	got, err = findBootFile("", "initramfs.cpio.gz", "--initramfs", "make initramfs")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "_out", "initramfs.cpio.gz"), got)
}

func TestQEMUPlanPutsNodesOnTheBridge(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "initramfs.cpio.gz"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	p := &clusterPlan{Name: "vms", Subnet: 21, ControlPlanes: 2, Workers: 1,
		Kernel: filepath.Join(dir, "vmlinuz"), Initramfs: filepath.Join(dir, "initramfs.cpio.gz")}
	if err := (&qemuProvisioner{}).plan(t.Context(), p); err != nil {
		// plan checks root and QEMU first.
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs as root with QEMU installed: %v", err)
		}
		t.Skipf("this host cannot run VMs: %v (runs in CI)", err)
	}
	require.Equal(t, []string{"10.21.0.1/24", "10.21.0.2/24", "10.21.0.3/24"}, p.Generate.NodeAddresses)
	require.Equal(t, [][]string{{"127.0.21.1"}, {"127.0.21.2"}, {"127.0.21.3"}}, p.Generate.CertSANs)
	require.Equal(t, []string{"127.0.21.1:6440", "127.0.21.2:6440", "127.0.21.3:6440"}, p.HostAPI)
	require.Equal(t, "eth0", p.Generate.NodeLink)
	require.True(t, p.Generate.NodeLinkUp)
	require.Equal(t, "/dev/vda", p.Generate.StateDisk)
}
