package cli

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// fakeImageNodes is the image RPCs of several nodes in memory, by the
// Cairn-Node header ("" is the endpoint's own node, n1): an upload is
// checked against its start as a node checks it and "imports" one image
// named by the archive's first line; a node in noRuntime refuses as a
// process-mode node does.
type fakeImageNodes struct {
	kubernetesv1connect.UnimplementedKubernetesServiceHandler

	mu        sync.Mutex
	images    map[string][]*kubernetesv1.Image
	uploads   map[string][]byte
	noRuntime map[string]bool
}

func (f *fakeImageNodes) node(h http.Header) string {
	if n := h.Get(headerNode); n != "" {
		return n
	}
	return "n1"
}

var errFakeNoRuntime = errors.New("this node runs no container runtime (process mode): images need the docker or qemu provisioner")

func (f *fakeImageNodes) ImportImages(_ context.Context, s *connect.ClientStream[kubernetesv1.ImportImagesRequest]) (*connect.Response[kubernetesv1.ImportImagesResponse], error) {
	node := f.node(s.RequestHeader())
	f.mu.Lock()
	refuse := f.noRuntime[node]
	f.mu.Unlock()
	if refuse {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errFakeNoRuntime)
	}
	var start *kubernetesv1.ImportImagesStart
	var data []byte
	for s.Receive() {
		if st := s.Msg().GetStart(); st != nil {
			start = st
		}
		data = append(data, s.Msg().GetData()...)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if start == nil || start.GetSize() != int64(len(data)) || start.GetSha256() != hex.EncodeToString(sum[:]) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the upload is not what its start says"))
	}
	ref, _, _ := strings.Cut(string(data), "\n")
	img := &kubernetesv1.Image{Ref: ref, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data)), Platforms: []string{"linux/amd64"}}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads[node] = data
	f.images[node] = append(f.images[node], img)
	return connect.NewResponse(&kubernetesv1.ImportImagesResponse{Images: []*kubernetesv1.Image{img}, ArchiveSha256: hex.EncodeToString(sum[:]), ArchiveSize: int64(len(data))}), nil
}

func (f *fakeImageNodes) ListImages(_ context.Context, req *connect.Request[kubernetesv1.ListImagesRequest]) (*connect.Response[kubernetesv1.ListImagesResponse], error) {
	node := f.node(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noRuntime[node] {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errFakeNoRuntime)
	}
	return connect.NewResponse(&kubernetesv1.ListImagesResponse{Images: f.images[node]}), nil
}

func (f *fakeImageNodes) uploaded(node string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[node]
}

// serveImages serves f with the test PKI and makes it the current
// context.
func serveImages(t *testing.T, f *fakeImageNodes) {
	t.Helper()
	p := getPKI(t)
	mux := http.NewServeMux()
	mux.Handle(kubernetesv1connect.NewKubernetesServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	path, err := defaultClientConfigPath()
	require.NoError(t, err)
	cc, err := ReadClientConfig(path)
	require.NoError(t, err)
	cc.Merge("fake", p.adminContext(srv.Listener.Addr().String()), false)
	require.NoError(t, WriteClientConfig(path, cc))
}

func imageTest(t *testing.T) (*fakeImageNodes, string) {
	t.Helper()
	isolateHome(t)
	f := &fakeImageNodes{images: map[string][]*kubernetesv1.Image{}, uploads: map[string][]byte{}, noRuntime: map[string]bool{"p1": true}}
	serveImages(t, f)
	// Several chunks: the archive is bigger than one upload message.
	archive := "cairn.local/app:v1\n" + strings.Repeat("layer bytes ", (3*imageChunk)/12)
	path := filepath.Join(t.TempDir(), "app.tar")
	require.NoError(t, os.WriteFile(path, []byte(archive), 0o600))
	return f, path
}

func TestImageImportToTheEndpointsNode(t *testing.T) {
	f, path := imageTest(t)
	want, err := os.ReadFile(path)
	require.NoError(t, err)

	r := runCLI(t, "image", "import", path)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want, f.uploaded("n1"), "the whole file, in order")
	assert.Contains(t, r.stderr, "imported 1 images from app.tar")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Equal(t, []string{"REF", "DIGEST", "SIZE", "PLATFORMS"}, strings.Fields(lines[0]))
	assert.Equal(t, "cairn.local/app:v1", strings.Fields(lines[1])[0])
	assert.Equal(t, "linux/amd64", strings.Fields(lines[1])[len(strings.Fields(lines[1]))-1])
}

func TestImageImportToEachNodeReportsEachOne(t *testing.T) {
	f, path := imageTest(t)

	r := runCLI(t, "-n", "w1,p1,w2", "image", "import", path, "-o", "json")

	assert.Equal(t, 1, r.code, "p1 failed")
	assert.Contains(t, r.stderr, "p1: ")
	assert.Contains(t, r.stderr, "process mode")
	assert.NotEmpty(t, f.uploaded("w1"))
	assert.NotEmpty(t, f.uploaded("w2"), "a failed node does not stop the others")
	assert.Empty(t, f.uploaded("p1"), "nothing is sent to a node that cannot import")
	var out struct {
		Images []map[string]any `json:"images"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	var nodes []string
	for _, i := range out.Images {
		nodes = append(nodes, i["node"].(string))
		assert.Equal(t, "cairn.local/app:v1", i["ref"])
	}
	assert.Equal(t, []string{"w1", "w2"}, nodes)
}

func TestImageImportRefusesAnEmptyFile(t *testing.T) {
	_, _ = imageTest(t)
	empty := filepath.Join(t.TempDir(), "empty.tar")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	r := runCLI(t, "image", "import", empty)

	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "empty")
}

func TestImageListPerNode(t *testing.T) {
	f, path := imageTest(t)
	require.Equal(t, 0, runCLI(t, "-n", "w1", "image", "import", path).code)
	f.mu.Lock()
	f.images["w2"] = []*kubernetesv1.Image{{Ref: "registry.k8s.io/pause:3.10.2", Digest: "sha256:" + strings.Repeat("ab", 32)}}
	f.mu.Unlock()

	r := runCLI(t, "-n", "w1,w2", "image", "list")

	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.Equal(t, []string{"NODE", "REF", "DIGEST", "SIZE", "PLATFORMS"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"w2", "registry.k8s.io/pause:3.10.2", "sha256:abababababab", "-", "-"}, strings.Fields(lines[2]))

	y := runCLI(t, "-n", "w2", "image", "list", "-o", "yaml")
	require.Equal(t, 0, y.code, y.stderr)
	assert.Contains(t, y.stdout, "ref: registry.k8s.io/pause:3.10.2")
	assert.Contains(t, y.stdout, "digest: sha256:"+strings.Repeat("ab", 32), "the whole digest")

	p := runCLI(t, "-n", "p1", "image", "list")
	assert.Equal(t, 1, p.code)
	assert.Contains(t, p.stderr, "docker or qemu provisioner")
}
