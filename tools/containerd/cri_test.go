package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pauseImage is the image the CRI test runs, sandbox and container alike;
// no registry is reachable, so the test makes it and imports it with ctr.
const pauseImage = "cairn.test/pause:1"

// pauseSource is the image's only file: a static program that waits for
// the signal that stops it, as the Kubernetes pause container does.
const pauseSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// ociArchive writes an OCI image layout tar holding one image named
// pauseImage whose single uncompressed layer holds /pause.
func ociArchive(t *testing.T, pause []byte) string {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(pause)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(pause)
	require.NoError(t, err)
	require.NoError(t, tw.Close())

	blobs := map[string][]byte{}
	desc := func(mediaType string, b []byte) map[string]any {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = b
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	layerDesc := desc("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config := desc("application/vnd.oci.image.config.v1+json", mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/pause"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []any{layerDesc["digest"]}},
	}))
	manifest := desc("application/vnd.oci.image.manifest.v1+json", mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": config, "layers": []any{layerDesc},
	}))
	manifest["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	manifest["annotations"] = map[string]string{"io.containerd.image.name": pauseImage}
	index := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{manifest},
	})

	path := filepath.Join(t.TempDir(), "pause.tar")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	tw = tar.NewWriter(f)
	add := func(name string, b []byte) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		require.NoError(t, err)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for d, b := range blobs {
		add("blobs/sha256/"+d[len("sha256:"):], b)
	}
	require.NoError(t, tw.Close())
	return path
}

// buildPause compiles pauseSource, static, in a module of its own.
func buildPause(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module pause\n\ngo 1.26\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(pauseSource), 0o600))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "pause", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build pause: %s", out)
	b, err := os.ReadFile(filepath.Join(dir, "pause"))
	require.NoError(t, err)
	return b
}

// TestCRIRunsAPod does what kubelet does first on a node: run a pod
// sandbox (host network, so no CNI config is needed) and a container in
// it, then stop and remove them. The sandbox asks for an oom_score_adj of
// -998, which only restrict_oom_score_adj lets through on a host whose
// root lacks CAP_SYS_RESOURCE. It needs root.
func TestCRIRunsAPod(t *testing.T) {
	requireRoot(t, "a CRI pod sandbox")
	bin := builtBinaries(t)
	sock := startContainerd(t, bin)
	image := ociArchive(t, buildPause(t))
	var out []byte
	require.Eventually(t, func() bool {
		var err error
		out, err = exec.Command(filepath.Join(bin, "ctr"), "--address", sock, "-n", "k8s.io", "images", "import", image).CombinedOutput()
		return err == nil
	}, time.Minute, 100*time.Millisecond, "ctr images import: %s", out)

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	cri := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	podConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "smoke", Uid: "cairn-smoke-uid", Namespace: "default"},
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
	pod, err := cri.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podConfig})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cri.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		_, _ = cri.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	})
	ps, err := cri.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId})
	require.NoError(t, err)
	assert.Equal(t, runtimeapi.PodSandboxState_SANDBOX_READY, ps.GetStatus().GetState())

	ctr, err := cri.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  pod.PodSandboxId,
		SandboxConfig: podConfig,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "main"},
			Image:    &runtimeapi.ImageSpec{Image: pauseImage},
			LogPath:  "main.log",
		},
	})
	require.NoError(t, err)
	_, err = cri.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId})
	require.NoError(t, err)
	cs, err := cri.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr.ContainerId})
	require.NoError(t, err)
	assert.Equal(t, runtimeapi.ContainerState_CONTAINER_RUNNING, cs.GetStatus().GetState())

	_, err = cri.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ctr.ContainerId, Timeout: 10})
	require.NoError(t, err)
	cs, err = cri.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr.ContainerId})
	require.NoError(t, err)
	assert.Equal(t, runtimeapi.ContainerState_CONTAINER_EXITED, cs.GetStatus().GetState())
	assert.Equal(t, int32(0), cs.GetStatus().GetExitCode(), "pause exits 0 on SIGTERM")
	_, err = cri.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ctr.ContainerId})
	require.NoError(t, err)
	_, err = cri.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	require.NoError(t, err)
	_, err = cri.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	require.NoError(t, err)
}
