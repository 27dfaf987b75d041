// Command mkimages builds the workload images Cairn ships (rootfs/images):
// the pod sandbox image (pause), the echo test application and, given the
// Kubernetes binary (`make kube`), one image per control-plane component,
// and writes them all as one OCI layout archive, OUT/all.tar, which
// containerd imports in one call at boot (`ctr -n k8s.io images import`,
// client.Import) under their full references. `make images` runs it. Set
// SOURCE_DATE_EPOCH to choose the images' fixed timestamp (default: the
// Unix epoch).
//
//	go run ./rootfs/cmd/mkimages --out _out/images [--kube _out/bin/kube] [--version V] [--docker]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/rootfs/image"
	"github.com/cairn-project/cairn/rootfs/images"
	"github.com/cairn-project/cairn/rootfs/initramfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "directory to write all.tar (and the programs built) into")
	kube := flag.String("kube", "", "the static Kubernetes multi-call binary (make kube: _out/bin/kube); omit for no component images")
	ver := flag.String("version", version.Version, "the Cairn version, for the programs and the echo image's tag")
	docker := flag.Bool("docker", false, "also write all-docker.tar, a 'docker load' archive of the same images")
	coredns := flag.String("coredns", "", "the static coredns binary (make coredns: _out/bin/coredns) for "+images.CoreDNSRef+"; omit for no DNS image")
	nft := flag.String("nft", "", "also write Debian's nft with its loader and libraries (apt-get download; nothing installed) as a root tree into this directory, for the node image")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		return errors.New("--out is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	created, err := image.SourceDateEpoch()
	if err != nil {
		return err
	}
	if *nft != "" {
		cache, err := initramfs.DefaultCacheDir()
		if err != nil {
			return err
		}
		paths, pkgs, err := initramfs.Programs(context.Background(), cache, initramfs.NftPackages, []string{initramfs.NftPath}, *nft, os.Stdout)
		if err != nil {
			return fmt.Errorf("nft: %w", err)
		}
		fmt.Printf("%s: nft from %s (%d entries)\n", *nft, strings.Join(pkgs, ", "), len(paths))
	}
	o := images.Options{Created: created}
	pause, echo := filepath.Join(*out, "pause"), filepath.Join(*out, "cairn-echo")
	if err := images.BuildProgram(images.PausePackage, *ver, pause); err != nil {
		return err
	}
	if err := images.BuildProgram(images.EchoPackage, *ver, echo); err != nil {
		return err
	}
	specs := []images.Spec{images.Pause(pause, *ver), images.Echo(echo, *ver)}
	if *coredns != "" {
		specs = append(specs, images.CoreDNS(*coredns, images.CoreDNSVersion))
	}
	if *kube != "" {
		kubeSpecs, err := images.Kube(*kube, o)
		if err != nil {
			return err
		}
		specs = append(specs, kubeSpecs...)
	}
	imgs, err := images.BuildAll(specs, o)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*out, "all.tar"), imgs, images.WriteOCIArchive); err != nil {
		return err
	}
	if *docker {
		if err := writeFile(filepath.Join(*out, "all-docker.tar"), imgs, images.WriteDockerArchive); err != nil {
			return err
		}
	}
	return list(imgs)
}

func writeFile(p string, imgs map[string]v1.Image, write func(io.Writer, map[string]v1.Image) error) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := write(f, imgs); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %.1f MiB\n", p, float64(st.Size())/(1<<20))
	return nil
}

// list prints each image's reference, manifest digest and unpacked size.
func list(imgs map[string]v1.Image) error {
	refs := make([]string, 0, len(imgs))
	for r := range imgs {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		d, err := imgs[r].Digest()
		if err != nil {
			return err
		}
		size, err := image.Size(imgs[r])
		if err != nil {
			return err
		}
		fmt.Printf("%s %s %.1f MiB\n", r, d, float64(size)/(1<<20))
	}
	return nil
}
