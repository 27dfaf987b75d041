package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/machine/kubehost"
	"github.com/cairn-project/cairn/node/machine/pid1"
)

// containerOptions is what container mode adds to the node: the API on
// every address (a published port reaches the container's own address,
// which the config may not name), and, when cairnd itself is the
// container's PID 1 (not the image's boot stage, which does the same for
// it: containerInit), the orphan reaper and, where the image ships
// kubelet, the mounts kubelet needs (node/machine/kubehost; failures are
// logged, and kubelet's own errors then say what is missing).
func containerOptions(ctx context.Context, o *node.Options, stateDir string) {
	o.ListenAll = true
	if shipsKubelet(o.Kubernetes) {
		// kubelet, started after this, reports this cairnd's release (from
		// a boot slot, not the image's) as its Node's OS image.
		if err := kubehost.ShowRelease(kubehost.Default(stateDir), version.OSRelease(version.Version)); err != nil {
			o.Logger.Warn("showing this release to kubelet", "error", err)
		}
	}
	if os.Getpid() != 1 {
		return
	}
	r := pid1.NewReaper(o.Logger.With("component", "reaper"))
	go func() { _ = r.Run(ctx) }()
	o.Reaper = r
	prepareKubeHost(o.Logger, o.Kubernetes, stateDir)
}

// prepareKubeHost makes the container ready for kubelet when kubeDir (the
// image's) has one: once per container, by its PID 1 (the boot stage, or
// cairnd run as the entrypoint itself).
func prepareKubeHost(log *slog.Logger, kubeDir, stateDir string) {
	if !shipsKubelet(kubeDir) {
		return
	}
	if err := kubehost.Prepare(kubehost.Default(stateDir)); err != nil {
		log.Warn("preparing the container for kubelet", "error", err)
	} else {
		log.Info("container prepared for kubelet: /sys writable, kubelet's sysctls shown, / rshared, machine id")
	}
}

// shipsKubelet reports whether the image's Kubernetes directory has
// kubelet (the node then runs it: node.runsKubelet checks the same).
func shipsKubelet(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "kubelet"))
	return err == nil
}
