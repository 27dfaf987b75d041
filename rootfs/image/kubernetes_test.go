package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/rootfs/initramfs"
)

// KubernetesFiles lays out kube and its links, the runtime, the CNI
// plugins, the archive, mount and umount as links to cairnd, and the
// account files; anything missing is named.
func TestKubernetesFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "cni"), 0o755))
	names := append([]string{"kube"}, RuntimePrograms...)
	for _, p := range CNIPlugins {
		names = append(names, filepath.Join("cni", p))
	}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(n), 0o755))
	}
	nft := filepath.Join(dir, "nft-root", "usr", "sbin")
	require.NoError(t, os.MkdirAll(nft, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(nft, "nft"), []byte("nft"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "nft-root", "lib64"), 0o755))
	require.NoError(t, os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(dir, "nft-root", "lib64", "ld-linux-x86-64.so.2")))
	archive := filepath.Join(dir, "all.tar")
	require.NoError(t, os.WriteFile(archive, []byte("tar"), 0o644))

	bins, files, err := KubernetesFiles(dir, archive)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "kube"), bins["/usr/bin/kube"])
	assert.Equal(t, filepath.Join(dir, "runc"), bins["/usr/bin/runc"])
	assert.Equal(t, filepath.Join(dir, "cni", "bridge"), bins[CNIBinDir+"/bridge"])
	assert.Len(t, bins, 1+len(RuntimePrograms)+len(CNIPlugins))
	assert.Equal(t, "kube", files["/usr/bin/kubelet"].Link)
	assert.Equal(t, "cairnd", files["/usr/bin/mount"].Link)
	assert.Equal(t, []byte("tar"), files[WorkloadImagesPath].Data)
	assert.Contains(t, string(files["/etc/passwd"].Data), "root:x:0:0:")
	assert.Empty(t, files["/etc/machine-id"].Data, "a mount point for cairnd's machine id")
	assert.Equal(t, File{Data: []byte("nft"), Mode: 0o755}, files[NftPath])
	assert.Equal(t, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", files["/lib64/ld-linux-x86-64.so.2"].Link)

	// The VM's initramfs has the same files at the same paths, and
	// cairnd, which mount names, as a link to /init.
	entries, err := KubernetesInitramfs(dir, archive)
	require.NoError(t, err)
	assert.Len(t, entries, len(bins)+len(files)+1)
	assert.Equal(t, initramfs.Entry{Src: filepath.Join(dir, "kube"), Mode: 0o755}, entries["/usr/bin/kube"])
	assert.Equal(t, "kube", entries["/usr/bin/kubelet"].Link)
	assert.Equal(t, initramfs.Entry{Data: []byte("nft"), Mode: 0o755}, entries[NftPath])
	assert.Equal(t, "/init", entries[CairndPath].Link)

	require.NoError(t, os.Remove(filepath.Join(dir, "cni", "portmap")))
	_, _, err = KubernetesFiles(dir, archive)
	assert.ErrorContains(t, err, "portmap")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cni", "portmap"), nil, 0o755))
	_, _, err = KubernetesFiles(dir, filepath.Join(dir, "none.tar"))
	assert.ErrorContains(t, err, "make images")
}
