package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// serverModule is the module the binary is built from; its version in
// go.mod is the version the binary must report.
const serverModule = "go.etcd.io/etcd/server/v3"

var (
	buildOnce sync.Once
	builtEtcd string
	buildErr  error
)

// etcdBinary builds this module's etcd once per test binary, as `make
// etcd` does (static, -trimpath, stripped), into a directory of its own.
// It always builds rather than reusing _out/bin/etcd, which may be left
// from another pin: with the Go build cache warm the build is a link of
// about a second, and cold it is the one compile `make etcd` would do.
func etcdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-etcd-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtEtcd = filepath.Join(dir, "etcd")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", builtEtcd, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build etcd: %w: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtEtcd
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtEtcd != "" {
		_ = os.RemoveAll(filepath.Dir(builtEtcd))
	}
	os.Exit(code)
}

// pinnedVersion is the server module's version in go.mod, without the
// "v": what etcd --version must print.
func pinnedVersion(t *testing.T) string {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	require.True(t, ok, "the test binary carries its build info")
	for _, d := range bi.Deps {
		if d.Path == serverModule {
			return strings.TrimPrefix(d.Version, "v")
		}
	}
	t.Fatalf("%s is not among the test binary's dependencies", serverModule)
	return ""
}

func TestVersionIsThePin(t *testing.T) {
	want := pinnedVersion(t)
	require.Equal(t, "3.7.3", want, "the pin issue 12 names; change both together")
	out, err := exec.Command(etcdBinary(t), "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, strings.Split(string(out), "\n"), "etcd Version: "+want, "%s", out)
}

// freeAddr returns a loopback address with a port nothing listens on
// now. etcd must be told its ports before it starts (it advertises them),
// so it cannot take port 0.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// lockedBuffer collects etcd's log for a failure message while etcd
// writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServesPutAndGet starts the binary as a one-member cluster on
// loopback with a data directory of its own, in plaintext (this is the
// binary's test: the PKI and the supervised service are cairnd's), then
// puts and gets a key through etcd's client and stops it with SIGTERM,
// as cairnd's supervisor will.
func TestServesPutAndGet(t *testing.T) {
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	// etcd wants its data directory 0700 (and warns otherwise).
	data := filepath.Join(t.TempDir(), "etcd")
	require.NoError(t, os.Mkdir(data, 0o700))
	var log lockedBuffer
	cmd := exec.Command(etcdBinary(t),
		"--name", "test", "--data-dir", data,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--initial-cluster-state", "new",
		"--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error // set before exited is closed
	go func() { waitErr = cmd.Wait(); close(exited) }()
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
	defer cli.Close()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		select {
		case <-exited:
			return // no use waiting: failed below
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/cairn/test", "hello")
		assert.NoError(c, err)
	}, time.Minute, 200*time.Millisecond, "etcd serves a put: %s", &log)
	select {
	case <-exited:
		t.Fatalf("etcd exited before serving: %v: %s", waitErr, log.String())
	default:
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/cairn/test")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, "hello", string(resp.Kvs[0].Value))
	st, err := cli.Status(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, pinnedVersion(t), st.Version, "the running server reports the pin")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		requireStoppedBySIGTERM(t, waitErr, log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("etcd did not stop within 30s of SIGTERM: %s", log.String())
	}
	entries, err := os.ReadDir(filepath.Join(data, "member"))
	require.NoError(t, err, "etcd wrote its data under --data-dir")
	assert.NotEmpty(t, entries)
}

// requireStoppedBySIGTERM accepts how etcd ends on SIGTERM: its
// interrupt handler (go.etcd.io/etcd/pkg/v3/osutil.HandleInterrupts)
// stops the server, restores the signal's default action and sends itself
// the signal again (as PID 1 it exits 0 instead), so a clean stop is a
// death by SIGTERM, not exit status 0. A supervisor must read it so.
func requireStoppedBySIGTERM(t *testing.T, err error, log string) {
	t.Helper()
	if err == nil {
		return
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, log)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok, log)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGTERM, "etcd stops on SIGTERM, not %v: %s", err, log)
}
