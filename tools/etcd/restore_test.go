package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// runMember starts a plaintext one-member etcd on data and returns a
// client and its URL; the member is stopped when the test ends.
func runMember(t *testing.T, name, data string, extra ...string) (*clientv3.Client, string) {
	t.Helper()
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	var log lockedBuffer
	args := append([]string{"--name", name, "--data-dir", data,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", name + "=" + peer, "--log-level", "warn"}, extra...)
	cmd := exec.Command(etcdBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := cli.Status(ctx, client)
		assert.NoError(c, err)
	}, time.Minute, 100*time.Millisecond, "etcd answers: %s", &log)
	return cli, client
}

// restore-snapshot turns a snapshot taken through the client into a data
// directory of a new one-member cluster that holds the data, with the
// revision bumped so that watchers never see it go backwards.
func TestRestoreSnapshot(t *testing.T) {
	dir := t.TempDir()
	cli, _ := runMember(t, "old", filepath.Join(dir, "old"), "--initial-cluster-state", "new")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	put, err := cli.Put(ctx, "/cairn/kept", "yes")
	require.NoError(t, err)
	rc, err := cli.Snapshot(ctx)
	require.NoError(t, err)
	snap := filepath.Join(dir, "snap.db")
	f, err := os.Create(snap)
	require.NoError(t, err)
	_, err = io.Copy(f, rc)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, rc.Close())

	peer := "http://" + freeAddr(t)
	restored := filepath.Join(dir, "restored")
	out, err := exec.Command(etcdBinary(t), restoreCommand, "--snapshot", snap, "--data-dir", restored,
		"--name", "new", "--initial-advertise-peer-urls", peer, "--initial-cluster", "new="+peer,
		"--initial-cluster-token", "gen2").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(etcdBinary(t), restoreCommand, "--snapshot", snap, "--data-dir", restored,
		"--name", "new", "--initial-advertise-peer-urls", peer, "--initial-cluster", "new="+peer,
		"--initial-cluster-token", "gen2").CombinedOutput()
	require.Error(t, err, "an existing data directory is never overwritten: %s", out)
	out, err = exec.Command(etcdBinary(t), restoreCommand, "--snapshot", snap).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "is required")

	cli2, _ := runMember(t, "new", restored)
	got, err := cli2.Get(ctx, "/cairn/kept")
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1)
	assert.Equal(t, "yes", string(got.Kvs[0].Value))
	assert.Greater(t, got.Header.Revision, put.Header.Revision+revisionBump-1, "the revision moved forward")
}
