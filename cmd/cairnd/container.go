package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/machine/kubehost"
	"github.com/cairn-project/cairn/node/machine/pid1"
)

// containerOptions is what container mode adds to the node: the API on
// every address (a published port reaches the container's own address,
// which the config may not name), and, as the container's PID 1, the
// orphan reaper and, where the image ships kubelet, the mounts kubelet
// needs (node/machine/kubehost; failures are logged, and kubelet's own
// errors then say what is missing).
func containerOptions(ctx context.Context, o *node.Options, stateDir string) {
	o.ListenAll = true
	if os.Getpid() != 1 {
		return
	}
	r := pid1.NewReaper(o.Logger.With("component", "reaper"))
	go func() { _ = r.Run(ctx) }()
	o.Reaper = r
	if !shipsKubelet(o.Kubernetes) {
		return
	}
	if err := kubehost.Prepare(kubehost.Default(stateDir)); err != nil {
		o.Logger.Warn("preparing the container for kubelet", "error", err)
	} else {
		o.Logger.Info("container prepared for kubelet: /sys writable, kubelet's sysctls shown, / rshared, machine id")
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
