// Command etcd is etcd's own server main, built from go.etcd.io/etcd/server/v3
// at the version this module pins, so that the Cairn images ship an etcd
// made here from Go modules (no prebuilt binary can be fetched). It is the
// whole of etcd's server/main.go: etcdmain.Main with the process's
// arguments. `make etcd` builds it into _out/bin/etcd.
//
// One more command rides along, so the image needs no etcdutl: `etcd
// restore-snapshot FLAGS` restores a snapshot into a new data directory
// with etcdutl's own library (go.etcd.io/etcd/etcdutl/v3/snapshot), which
// is how cairnd recovers a cluster that lost its quorum for good.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == restoreCommand {
		os.Exit(restoreSnapshot(os.Args[2:], os.Stderr))
	}
	etcdmain.Main(os.Args)
}
