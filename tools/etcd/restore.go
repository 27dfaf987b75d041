package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// restoreCommand is the first argument that selects restoreSnapshot.
const restoreCommand = "restore-snapshot"

// revisionBump is added to the restored revision, and the old revisions
// marked compacted, as etcdutl's documentation advises for clusters with
// watchers (kube-apiserver): no client sees the revision go backwards.
const revisionBump = 1_000_000_000

// restoreSnapshot is `etcdutl snapshot restore` for one member: it writes
// a new data directory (which must not exist) holding the snapshot's data
// as the only member of a new cluster.
func restoreSnapshot(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(restoreCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	snap := fs.String("snapshot", "", "snapshot file (from etcd's Snapshot call)")
	dataDir := fs.String("data-dir", "", "data directory to create (must not exist)")
	name := fs.String("name", "", "member name")
	peerURL := fs.String("initial-advertise-peer-urls", "", "the member's peer URL")
	cluster := fs.String("initial-cluster", "", "name=peerURL of the new cluster's one member")
	token := fs.String("initial-cluster-token", "", "the new cluster's token")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for flagName, v := range map[string]string{"snapshot": *snap, "data-dir": *dataDir, "name": *name, "initial-advertise-peer-urls": *peerURL, "initial-cluster": *cluster, "initial-cluster-token": *token} {
		if v == "" {
			fmt.Fprintf(stderr, "%s: --%s is required\n", restoreCommand, flagName)
			return 2
		}
	}
	lg, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	err = snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath: *snap, Name: *name, OutputDataDir: *dataDir,
		PeerURLs: strings.Split(*peerURL, ","), InitialCluster: *cluster, InitialClusterToken: *token,
		RevisionBump: revisionBump, MarkCompacted: true,
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", restoreCommand, err)
		return 1
	}
	return 0
}
