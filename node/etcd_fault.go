package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// EtcdFaultEnv names the test-only environment variable that arms one of
// the etcd coordinator's fault points (node/cluster/etcdmembers: such as
// etcd-after-decide): when this node's coordinator reaches it, the process
// kills itself with SIGKILL, as a power cut there would. It fires once per
// state directory, so the node its boot stage restarts runs clean. The
// integration tests' cold-boot races use it.
const EtcdFaultEnv = "CAIRN_ETCD_FAULT"

// etcdFault returns the coordinator's fault hook for the armed point, or
// nil when none is armed.
func etcdFault(stateDir, armed string, log *slog.Logger) func(point string) {
	if armed == "" {
		return nil
	}
	return func(point string) {
		if point != armed {
			return
		}
		marker := filepath.Join(stateDir, fmt.Sprintf("etcd-fault-%s.fired", point))
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return // fired before (or cannot record it: do not fire unrecorded)
		}
		_ = f.Sync()
		_ = f.Close()
		log.Warn("etcd fault point reached: killing this process", "point", point)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
