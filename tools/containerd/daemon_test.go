package containerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// daemonConfig is the smallest containerd config that keeps a daemon to
// itself (root, state and sockets under dir, nothing imported from
// /etc/containerd) and points the CRI plugin at the runc and CNI plugins
// just built, with the pause image cri_test.go imports as the sandbox
// image. restrict_oom_score_adj is what a root without
// CAP_SYS_RESOURCE needs (this CI machine's): the CRI may then not set an
// oom_score_adj below containerd's own.
const daemonConfig = `version = 4
root = "%[1]s/root"
state = "%[1]s/state"
imports = []

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = "%[1]s/containerd.sock"
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "%[1]s/containerd.sock.ttrpc"
  [plugins.'io.containerd.server.v1.debug']
    address = ""
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "%[3]s"
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "%[2]s/runc"
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["%[2]s/cni"]
      conf_dir = "%[1]s/net.d"
`

// startContainerd runs the built containerd as root with daemonConfig and
// stops it when the test ends. Its PATH leads to the built shim and runc,
// which containerd looks up there.
func startContainerd(t *testing.T, bin string) (sock string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, daemonConfig, dir, bin, pauseImage), 0o600))
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
	return filepath.Join(dir, "containerd.sock")
}

// TestContainerdRunsAContainer starts the daemon, asks it for its version
// over its socket with ctr, runs a container through the shim and runc
// (a static binary as the whole root file system) and asks the CRI what
// kubelet would. It needs root.
func TestContainerdRunsAContainer(t *testing.T) {
	requireRoot(t, "containerd and runc")
	bin := builtBinaries(t)
	sock := startContainerd(t, bin)
	ctr := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "ctr"), append([]string{"--address", sock}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	var version string
	require.Eventually(t, func() bool {
		out, err := ctr("version")
		version = out
		return err == nil
	}, time.Minute, 100*time.Millisecond, "ctr version over %s", sock)
	_, server, ok := strings.Cut(version, "Server:")
	require.True(t, ok, "ctr version names no server:\n%s", version)
	assert.Contains(t, server, "Version:  "+pin(t, containerdModule))

	// The container's root file system is one static binary: the loopback
	// plugin, which names itself (on stderr) when run without a command.
	rootfs := t.TempDir()
	loopback, err := os.ReadFile(filepath.Join(bin, "cni", "loopback"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "loopback"), loopback, 0o755))
	out, err := ctr("run", "--rm", "--rootfs", rootfs, "cairn-smoke", "/loopback")
	require.NoError(t, err, "ctr run: %s", out)
	assert.Contains(t, out, "CNI loopback plugin "+pin(t, cniModule))

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	cri := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := cri.Version(ctx, &runtimeapi.VersionRequest{})
	require.NoError(t, err)
	assert.Equal(t, "containerd", v.RuntimeName)
	assert.Equal(t, pin(t, containerdModule), v.RuntimeVersion)
	st, err := cri.Status(ctx, &runtimeapi.StatusRequest{})
	require.NoError(t, err)
	ready := map[string]bool{}
	for _, c := range st.GetStatus().GetConditions() {
		ready[c.Type] = c.Status
	}
	assert.True(t, ready[runtimeapi.RuntimeReady], "CRI conditions: %v", st.GetStatus().GetConditions())
}

// requireRoot is the repository's rule (internal/testutil.RequireRoot,
// which this module cannot import): a test that needs root skips without
// it, but fails under CI=true, where CI runs as root, so a skip never
// hides a regression there.
func requireRoot(t *testing.T, need string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root for %s, and CI=true forbids skipping (CI runs as root)", need)
	}
	t.Skipf("needs root for %s (CI runs as root and does not skip)", need)
}
