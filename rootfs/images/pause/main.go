// Command pause is the pod sandbox's process, Cairn's own counterpart of
// Kubernetes' pause (build/pause/linux/pause.c): it holds the pod's
// namespaces open by doing nothing, reaps the zombies that are
// reparented to it as the sandbox's PID 1, and exits 0 on SIGINT or
// SIGTERM. rootfs/images packs it as the sandbox image containerd's CRI
// defaults to.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set with -ldflags by rootfs/images.
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-v" {
		fmt.Println("pause (cairn)", version)
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not PID 1, so orphans are not reaped here")
	}
	// Written once the handlers are in place: a signal from now on is ours.
	fmt.Fprintln(os.Stderr, "pause: waiting for SIGINT or SIGTERM")
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", s)
		os.Exit(0)
	}
}

// reap waits for every exited child without blocking: one SIGCHLD may
// stand for several.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
