package images

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
)

// TestContainerdImportsAndRuns imports the OCI archive into a containerd
// of its own (temp root, state and socket; no CRI) with `ctr images
// import`, checks that every reference arrives by its full name, and runs
// the echo and kube images with runc. It needs root and containerd, ctr
// and runc on PATH; it uses the host's containerd binary (Debian's 1.6
// here), whose importer reads the names as v2.4.2's does (client.Import:
// io.containerd.image.name first).
func TestContainerdImportsAndRuns(t *testing.T) {
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		_, err := exec.LookPath(bin)
		testutil.Require(t, err == nil, bin+" (Docker's, on PATH)")
	}
	testutil.RequireRoot(t, "a containerd of its own")
	imgs, data := buildArchive(t, "v1.2.3", Options{})
	dir := t.TempDir()
	archive := filepath.Join(dir, "all.tar")
	require.NoError(t, os.WriteFile(archive, data, 0o644))
	sock := filepath.Join(dir, "containerd.sock")
	cfg := "version = 2\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"" + sock + "\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644))
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	var daemonLog bytes.Buffer
	daemon.Stdout, daemon.Stderr = &daemonLog, &daemonLog
	require.NoError(t, daemon.Start())
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	})
	ctr := func(args ...string) *exec.Cmd {
		return exec.Command("ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...)
	}
	require.Eventually(t, func() bool { return ctr("version").Run() == nil }, 20*time.Second, 50*time.Millisecond,
		"containerd answers: %s", &daemonLog)

	out, err := ctr("images", "import", archive).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = ctr("images", "ls", "--quiet").Output()
	require.NoError(t, err)
	assert.Equal(t, sortedKeys(imgs), strings.Fields(string(out)), "every image by its full reference")

	// kube-apiserver is found on PATH as a link to the (stand-in) kube
	// binary, which is pause here: -v answers.
	apiserver := KubeRegistry + "/kube-apiserver:" + KubeVersion
	out, err = ctr("run", "--rm", apiserver, "kube-test", "kube-apiserver", "-v").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "pause (cairn) v0.0.1-test", strings.TrimSpace(string(out)))

	echo := ctr("run", "--rm", "--net-host", "--env", "POD_IP=10.244.9.9", EchoRepo+":v1.2.3", "echo-test",
		EchoPath, "--listen", "127.0.0.1:0")
	addr := startLogging(t, echo, regexp.MustCompile(`msg=listening .*\baddr=(\S+)`))
	code, body := httpGet(t, "http://"+addr+"/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "pod-ip: 10.244.9.9\n")
	out, err = ctr("task", "kill", "--signal", "SIGTERM", "echo-test").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, echo.Wait(), "echo exits 0 on SIGTERM, and ctr with it")
}

// TestDockerLoadsAndRunsEcho loads the echo image from a docker-archive
// (WriteDockerArchive) and runs it with a published port. It needs Docker,
// which CI has.
func TestDockerLoadsAndRunsEcho(t *testing.T) {
	testutil.Require(t, exec.Command("docker", "version").Run() == nil, "Docker")
	_, echoBin := builtPrograms(t)
	ref := EchoRepo + ":test-" + strings.ToLower(t.Name())
	img, err := Build(Echo(echoBin, "v1.2.3"), Options{})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteDockerArchive(&buf, map[string]v1.Image{ref: img}))
	load := exec.Command("docker", "load", "--quiet")
	load.Stdin = &buf
	out, err := load.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "--force", ref).Run() })

	out, err = exec.Command("docker", "run", "--rm", "-d", "--read-only", "-p", "127.0.0.1::8080", ref).Output()
	require.NoError(t, err)
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "--force", id).Run() })
	out, err = exec.Command("docker", "port", id, "8080/tcp").Output()
	require.NoError(t, err)
	hostPort := strings.TrimSpace(strings.Split(string(out), "\n")[0])

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get("http://" + hostPort + "/healthz") //nolint:noctx // a test
		if !assert.NoError(c, err) {
			return
		}
		_ = resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 20*time.Second, 100*time.Millisecond, "echo answers on the published port")
	_, body := httpGet(t, "http://"+hostPort+"/")
	assert.Contains(t, body, "hostname: "+id[:12]+"\n", "Docker's hostname is the container ID")
	assert.Contains(t, body, "version: v0.0.1-test\n", "the binary's version")
}
