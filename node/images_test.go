package node

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-project/cairn/node/machine/kube"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/rootfs/images"
)

// testContainerdConfig keeps a daemon to itself (root, state and socket
// under dir, nothing from /etc/containerd), without the CRI, which an
// import does not need; imports unpack into the native snapshotter,
// which works on any file system. restrict_oom_score_adj is for a root
// without CAP_SYS_RESOURCE, as in tools/containerd's daemon test.
const testContainerdConfig = `version = 3
root = "%[1]s/root"
state = "%[1]s/state"
imports = []
disabled_plugins = ["io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"]

[grpc]
  address = "%[1]s/containerd.sock"
[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"
[debug]
  address = ""

[plugins]
  [plugins.'io.containerd.transfer.v1.local']
    [[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
      platform = "linux/amd64"
      snapshotter = "native"
  [plugins.'io.containerd.runtime.v2.task']
    restrict_oom_score_adj = true
`

// builtRuntime is the container runtime as `make containerd` builds it
// (scripts/build-containerd.sh, into a directory of this test binary's;
// the Go build cache makes it seconds once tools/containerd was built):
// what a node's Options.Kubernetes holds. Built once per test binary.
func builtRuntime(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t, "containerd")
	runtimeOnce.Do(func() {
		runtimeDir, runtimeErr = os.MkdirTemp("", "cairn-node-runtime")
		if runtimeErr != nil {
			return
		}
		script, err := filepath.Abs("../scripts/build-containerd.sh")
		if err != nil {
			runtimeErr = err
			return
		}
		if out, err := exec.Command(script, runtimeDir).CombinedOutput(); err != nil {
			runtimeErr = fmt.Errorf("build-containerd.sh: %w\n%s", err, out)
		}
	})
	require.NoError(t, runtimeErr)
	return runtimeDir
}

var (
	runtimeOnce sync.Once
	runtimeDir  string
	runtimeErr  error
)

// startTestContainerd runs the built containerd as root and returns its
// socket once ctr gets an answer; it stops when the test ends.
func startTestContainerd(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, testContainerdConfig, dir), 0o600))
	var log bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "containerd"), "--config", cfg)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("containerd log:\n%s", log.String())
		}
	})
	sock := filepath.Join(dir, "containerd.sock")
	require.Eventually(t, func() bool {
		return exec.Command(filepath.Join(bin, "ctr"), "--address", sock, "version").Run() == nil
	}, time.Minute, 50*time.Millisecond, "containerd answers on %s", sock)
	return sock
}

// testImage is a one-file image, built as rootfs/images builds the
// node's.
func testImage(t *testing.T, ref, content string) v1.Image {
	t.Helper()
	img, err := images.Build(images.Spec{
		Ref: ref, Title: "test", Version: "v1",
		Files: map[string]images.File{"/hello": {Data: []byte(content), Mode: 0o644}},
	}, images.Options{})
	require.NoError(t, err)
	return img
}

func writeArchive(t *testing.T, write func(*bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, write(&buf))
	path := filepath.Join(t.TempDir(), "images.tar")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// TestContainerImagesAgainstContainerd imports OCI and docker archives
// into a real containerd with the built ctr, lists them, and refuses
// what is no archive. It needs root and `make containerd`.
func TestContainerImagesAgainstContainerd(t *testing.T) {
	testutil.RequireRoot(t, "a containerd of its own")
	bin := builtRuntime(t)
	sock := startTestContainerd(t, bin)
	ops := &containerImages{ctr: filepath.Join(bin, "ctr"), socket: sock, namespace: kube.ContainerdNamespace}
	ctx := t.Context()

	hello := testImage(t, "cairn.local/hello:v1", "hello\n")
	helloDigest, err := hello.Digest()
	require.NoError(t, err)
	oci := writeArchive(t, func(b *bytes.Buffer) error {
		return images.WriteOCIArchive(b, map[string]v1.Image{"cairn.local/hello:v1": hello})
	})
	got, err := ops.Import(ctx, oci)
	require.NoError(t, err)
	require.Len(t, got, 1, "%+v", got)
	assert.Equal(t, "cairn.local/hello:v1", got[0].Ref)
	assert.Equal(t, helloDigest.String(), got[0].Digest)
	assert.Equal(t, []string{"linux/amd64"}, got[0].Platforms)
	assert.Positive(t, got[0].Size)
	assert.FileExists(t, oci, "the file is the caller's")

	bye := testImage(t, "cairn.local/bye:v2", "bye\n")
	docker := writeArchive(t, func(b *bytes.Buffer) error {
		return images.WriteDockerArchive(b, map[string]v1.Image{"cairn.local/bye:v2": bye})
	})
	got, err = ops.Import(ctx, docker)
	require.NoError(t, err)
	require.Len(t, got, 1, "only this call's images: %+v", got)
	assert.Equal(t, "cairn.local/bye:v2", got[0].Ref)

	// Importing the first again names it again.
	got, err = ops.Import(ctx, oci)
	require.NoError(t, err)
	require.Len(t, got, 1, "%+v", got)
	assert.Equal(t, "cairn.local/hello:v1", got[0].Ref)

	list, err := ops.List(ctx)
	require.NoError(t, err)
	var refs []string
	for _, i := range list {
		refs = append(refs, i.Ref)
	}
	assert.Equal(t, []string{"cairn.local/bye:v2", "cairn.local/hello:v1"}, refs, "sorted, in namespace k8s.io")

	garbage := filepath.Join(t.TempDir(), "garbage.tar")
	require.NoError(t, os.WriteFile(garbage, []byte("not a tar file at all"), 0o600))
	_, err = ops.Import(ctx, garbage)
	require.ErrorIs(t, err, api.ErrBadImageArchive)
	t.Logf("refused: %v", err)
	list, err = ops.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 2, "a refused archive adds nothing")

	other := &containerImages{ctr: ops.ctr, socket: sock, namespace: "default"}
	list, err = other.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "the images are in k8s.io only")
}

// Without containerd's socket (not started yet) the calls are
// unavailable, and nothing is run.
func TestContainerImagesWithoutContainerd(t *testing.T) {
	ops := &containerImages{ctr: "/nonexistent/ctr", socket: filepath.Join(t.TempDir(), "containerd.sock"), namespace: kube.ContainerdNamespace}
	_, err := ops.List(t.Context())
	require.ErrorIs(t, err, api.ErrRuntimeUnavailable)
	_, err = ops.Import(t.Context(), "/nonexistent.tar")
	require.ErrorIs(t, err, api.ErrRuntimeUnavailable)
}

func TestLocalImageOpsOnlyWithARuntime(t *testing.T) {
	for mode, want := range map[string]bool{"pid1": true, "container": true, "process": false} {
		caps, err := capability.ForMode(mode)
		require.NoError(t, err)
		ops := localImageOps(Options{Capabilities: caps, Kubernetes: "/usr/lib/cairn"})
		assert.Equal(t, want, ops != nil, mode)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[[2]string]int64{
		{"512.0", "B"}: 512, {"2.5", "KiB"}: 2560, {"1.0", "MiB"}: 1 << 20, {"x", "B"}: 0, {"1.0", "parsecs"}: 0,
	} {
		assert.Equal(t, want, parseSize(in[0], in[1]), in)
	}
}

// A socket nobody listens on (containerd stopped) is unavailable too,
// not a bad archive.
func TestContainerImagesWithAStoppedContainerd(t *testing.T) {
	bin := builtRuntime(t)
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	ops := &containerImages{ctr: filepath.Join(bin, "ctr"), socket: sock, namespace: kube.ContainerdNamespace}
	archive := filepath.Join(t.TempDir(), "a.tar")
	require.NoError(t, os.WriteFile(archive, []byte("x"), 0o600))
	_, err = ops.Import(t.Context(), archive)
	require.ErrorIs(t, err, api.ErrRuntimeUnavailable)
	assert.NotErrorIs(t, err, api.ErrBadImageArchive)
	_, err = ops.List(t.Context())
	require.ErrorIs(t, err, api.ErrRuntimeUnavailable)
	t.Logf("%v", err)
}
