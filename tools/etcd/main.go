// Command etcd is etcd's own server main, built from go.etcd.io/etcd/server/v3
// at the version this module pins, so that the Cairn images ship an etcd
// made here from Go modules (no prebuilt binary can be fetched). It is the
// whole of etcd's server/main.go: etcdmain.Main with the process's
// arguments. `make etcd` builds it into _out/bin/etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
