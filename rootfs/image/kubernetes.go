package image

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairn-project/cairn/rootfs/initramfs"
)

// Where the image puts what a Kubernetes node runs (KubernetesFiles): the
// multi-call kube binary with a link per component, the container runtime
// beside it in /usr/bin, the CNI plugins in CNIBinDir, the workload images
// archive that cairnd imports into containerd at boot.
const (
	// KubeBinDir holds kube, its links, containerd, its shim, ctr and runc:
	// cairnd's --kubernetes directory in the image.
	KubeBinDir = "/usr/bin"
	// CNIBinDir holds the CNI plugins (containerd's bin_dirs).
	CNIBinDir = "/opt/cni/bin"
	// WorkloadImagesPath is the OCI archive of the workload images
	// (rootfs/images: pause, echo, the Kubernetes components).
	WorkloadImagesPath = "/usr/share/cairn/images.tar"
)

// KubeComponents are the links to the kube binary, one per component.
var KubeComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubectl"}

// RuntimePrograms are the container runtime's static programs, from
// tools/containerd (`make containerd`), in KubeBinDir.
var RuntimePrograms = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc"}

// CNIPlugins are the CNI plugins the image ships (`make containerd` puts
// them in cni/ beside the runtime).
var CNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// The files of /etc a Kubernetes node reads: the account files kubelet
// reads (it looks up users and groups of pods' security contexts); the
// hosts and resolv.conf containerd copies into every pod sandbox (a
// container gets Docker's over them; a VM's are these: no name server, so
// pods get the cluster DNS only); and the mount point of the random
// machine ID that cairnd bind-mounts at boot (the root is read-only).
var etcFiles = map[string]File{
	"/etc/passwd":      {Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
	"/etc/group":       {Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
	"/etc/hosts":       {Data: []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")},
	"/etc/resolv.conf": {Data: []byte("# Cairn: no host name server; pods use the cluster DNS\n")},
	"/etc/machine-id":  {Data: []byte{}, Mode: 0o444},
}

// KubernetesFiles are what an image that runs Kubernetes adds, read from
// binDir (where `make kube` and `make containerd` put kube, the runtime
// and cni/) and the workload images archive at images (`make images`):
// binaries (image path → host file, for FromFile) and files (links, the
// archive, the files of /etc). kubelet execs mount and umount for
// volumes: they are links to cairnd, which answers to those names
// (cmd/cairnd, node/machine/mountcmd) — no util-linux in the image.
func KubernetesFiles(binDir, images string) (map[string]string, map[string]File, error) {
	bins := map[string]string{}
	add := func(imagePath, host string) error {
		fi, err := os.Stat(host)
		if err != nil {
			return fmt.Errorf("the Kubernetes image needs %s: %w", filepath.Base(host), err)
		}
		if fi.IsDir() {
			return fmt.Errorf("the Kubernetes image needs %s: it is a directory", host)
		}
		bins[imagePath] = host
		return nil
	}
	if err := add(KubeBinDir+"/kube", filepath.Join(binDir, "kube")); err != nil {
		return nil, nil, err
	}
	for _, p := range RuntimePrograms {
		if err := add(KubeBinDir+"/"+p, filepath.Join(binDir, p)); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range CNIPlugins {
		if err := add(CNIBinDir+"/"+p, filepath.Join(binDir, "cni", p)); err != nil {
			return nil, nil, err
		}
	}
	archive, err := os.ReadFile(images)
	if err != nil {
		return nil, nil, fmt.Errorf("the Kubernetes image needs the workload images (make images): %w", err)
	}
	files := map[string]File{WorkloadImagesPath: {Data: archive}}
	for _, c := range KubeComponents {
		files[KubeBinDir+"/"+c] = File{Link: "kube"}
	}
	for _, m := range []string{"mount", "umount"} {
		files[KubeBinDir+"/"+m] = File{Link: "cairnd"}
	}
	for p, f := range etcFiles {
		files[p] = f
	}
	if err := addTree(files, filepath.Join(binDir, "nft-root")); err != nil {
		return nil, nil, fmt.Errorf("the Kubernetes image needs nft (kube-proxy's nftables backend; make images writes it): %w", err)
	}
	return bins, files, nil
}

// NftPath is nft in the image, from the nft-root tree beside the
// binaries (Debian's nft, its loader and libraries: rootfs/initramfs.
// Programs), the one dynamically linked program of the image.
const NftPath = "/usr/sbin/nft"

// addTree adds every file and symlink under root to files, at its path
// below root; root must hold NftPath.
func addTree(files map[string]File, root string) error {
	if _, err := os.Stat(filepath.Join(root, NftPath)); err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(root) // the tree may be a link (tests)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		imagePath := "/" + filepath.ToSlash(rel)
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files[imagePath] = File{Link: target}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[imagePath] = File{Data: data, Mode: int64(fi.Mode().Perm())}
		return nil
	})
}

// KubernetesInitramfs are KubernetesFiles as entries of the VM's
// initramfs (initramfs.Options.Extra), at the same paths as in the
// container image: the programs 0755, the rest as the image has them, and
// CairndPath as a link to /init, which the mount and umount links name.
func KubernetesInitramfs(binDir, images string) (map[string]initramfs.Entry, error) {
	bins, files, err := KubernetesFiles(binDir, images)
	if err != nil {
		return nil, err
	}
	out := map[string]initramfs.Entry{}
	for p, src := range bins {
		out[p] = initramfs.Entry{Src: src, Mode: 0o755}
	}
	for p, f := range files {
		out[p] = initramfs.Entry{Data: f.Data, Link: f.Link, Mode: fs.FileMode(f.Mode)}
	}
	out[CairndPath] = initramfs.Entry{Link: "/init"}
	return out, nil
}
