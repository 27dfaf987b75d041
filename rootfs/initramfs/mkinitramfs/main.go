// Command mkinitramfs writes the kernel and initramfs Cairn VMs boot
// (`make initramfs`): see rootfs/initramfs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairn-project/cairn/rootfs/image"
	"github.com/cairn-project/cairn/rootfs/initramfs"
)

func main() {
	cairnd := flag.String("cairnd", "", "static cairnd binary for /init (CGO_ENABLED=0)")
	etcd := flag.String("etcd", "", "static etcd binary for /"+initramfs.EtcdPath+" (make etcd); omit for an initramfs without etcd")
	out := flag.String("out", "_out", "directory for vmlinuz and "+initramfs.DefaultName)
	cache := flag.String("cache", "", "package cache (default: $XDG_CACHE_HOME/cairn/initramfs or ~/.cache/cairn/initramfs)")
	modules := flag.String("modules", strings.Join(initramfs.DefaultModules, ","), "kernel modules to include, with their dependencies")
	list := flag.Bool("list", false, "print the initramfs's entries")
	kube := flag.String("kubernetes", "", "also ship a Kubernetes node (kube and its links, the container runtime, CNI plugins, nft, the workload images, the kernel modules they need) from this directory (where make kube, make containerd and make images put them: _out/bin), writing "+initramfs.KubernetesName+" uncompressed")
	workload := flag.String("images", "", "the workload images archive for --kubernetes (default: ../images/all.tar from its directory)")
	flag.Parse()
	if *cairnd == "" {
		fmt.Fprintln(os.Stderr, "mkinitramfs: --cairnd is required")
		os.Exit(2)
	}
	o := initramfs.Options{
		Cairnd: *cairnd, Etcd: *etcd, OutDir: *out, CacheDir: *cache,
		Modules: strings.Split(*modules, ","), Log: os.Stderr,
	}
	if *kube != "" {
		if *workload == "" {
			*workload = filepath.Join(*kube, "..", "images", "all.tar")
		}
		extra, err := image.KubernetesInitramfs(*kube, *workload)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
			os.Exit(1)
		}
		o.Extra, o.Name = extra, initramfs.KubernetesName
		o.Modules = append(o.Modules, initramfs.KubernetesModules...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := initramfs.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
		os.Exit(1)
	}
	if *list {
		for _, p := range res.Paths {
			fmt.Println(p)
		}
	}
	fmt.Fprintf(os.Stderr, "kernel %s (%s)\n", res.Kernel, res.KernelVersion)
	for _, p := range res.Packages {
		fmt.Fprintf(os.Stderr, "  %s\n", p)
	}
	fmt.Fprintf(os.Stderr, "initramfs %s: %d entries, sha256 %s\n", res.Initramfs, len(res.Paths), res.SHA256)
}
