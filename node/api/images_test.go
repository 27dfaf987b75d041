package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// fakeImages is a container runtime in memory: an archive is imported
// when it starts with "archive:", and then holds the one image whose
// reference follows; anything else is refused as containerd refuses it.
type fakeImages struct {
	mu     sync.Mutex
	images map[string]api.Image
	// seen are the contents of the files Import was given.
	seen [][]byte
	// down makes every call fail as a runtime that does not answer.
	down bool
}

func newFakeImages() *fakeImages { return &fakeImages{images: map[string]api.Image{}} }

func (f *fakeImages) Import(_ context.Context, path string) ([]api.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, fmt.Errorf("%w: dial unix: connection refused", api.ErrRuntimeUnavailable)
	}
	f.seen = append(f.seen, data)
	ref, ok := bytes.CutPrefix(data, []byte("archive:"))
	if !ok {
		return nil, fmt.Errorf("%w: ctr: unrecognized image format", api.ErrBadImageArchive)
	}
	sum := sha256.Sum256(data)
	img := api.Image{Ref: string(ref[:min(len(ref), 40)]), Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data)), Platforms: []string{"linux/amd64"}}
	f.images[img.Ref] = img
	return []api.Image{img}, nil
}

func (f *fakeImages) List(context.Context) ([]api.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, api.ErrRuntimeUnavailable
	}
	var out []api.Image
	for _, i := range f.images {
		out = append(out, i)
	}
	return out, nil
}

func (f *fakeImages) imported() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.seen...)
}

// sendImages uploads data in chunks after start.
func sendImages(ctx context.Context, c kubernetesv1connect.KubernetesServiceClient, start *kubernetesv1.ImportImagesStart, data []byte, chunk int, node string) (*kubernetesv1.ImportImagesResponse, error) {
	s := c.ImportImages(ctx)
	if node != "" {
		s.RequestHeader().Set(api.HeaderNode, node)
	}
	msg := &kubernetesv1.ImportImagesRequest{Start: start}
	for off := 0; off < len(data) || msg.Start != nil; off += chunk {
		msg.Data = data[off:min(off+chunk, len(data))]
		if err := s.Send(msg); err != nil {
			break // the server answered early; CloseAndReceive says why
		}
		msg = &kubernetesv1.ImportImagesRequest{}
	}
	res, err := s.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestImportImages(t *testing.T) {
	noLeaks(t)
	ops := newFakeImages()
	dir := filepath.Join(t.TempDir(), "uploads")
	client := kubernetesClient(t, api.Options{Images: ops, ImageUploadDir: dir, MaxImageArchive: 1 << 20})
	admin := client(config.APIRoleAdmin)
	ctx := t.Context()
	archive := []byte("archive:cairn.local/app:v1")
	nothingLeft := func(t *testing.T) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if !os.IsNotExist(err) {
			require.NoError(t, err)
		}
		assert.Empty(t, entries, "no upload is left behind")
	}

	t.Run("Imports", func(t *testing.T) {
		// Chunks of 5 bytes: the node joins them in order.
		res, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{Size: int64(len(archive)), Sha256: hexSHA256(archive), Name: "app.tar"}, archive, 5, "")
		require.NoError(t, err)
		require.Len(t, res.GetImages(), 1)
		assert.Equal(t, "cairn.local/app:v1", res.GetImages()[0].GetRef())
		assert.Equal(t, []string{"linux/amd64"}, res.GetImages()[0].GetPlatforms())
		assert.Equal(t, hexSHA256(archive), res.GetArchiveSha256())
		assert.Equal(t, int64(len(archive)), res.GetArchiveSize())
		assert.Equal(t, archive, ops.imported()[len(ops.imported())-1], "the runtime read the whole upload")
		nothingLeft(t)

		list, err := client(config.APIRoleReader).ListImages(ctx, connect.NewRequest(&kubernetesv1.ListImagesRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetImages(), 1)
		assert.Equal(t, "cairn.local/app:v1", list.Msg.GetImages()[0].GetRef())
	})
	t.Run("WithoutSizeOrDigest", func(t *testing.T) {
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{}, archive, 1000, "")
		require.NoError(t, err)
		nothingLeft(t)
	})
	t.Run("RefusedBelowAdmin", func(t *testing.T) {
		before := len(ops.imported())
		for _, role := range []string{config.APIRoleReader, config.APIRoleOperator} {
			_, err := sendImages(ctx, client(role), &kubernetesv1.ImportImagesStart{}, archive, 1000, "")
			assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), role)
		}
		assert.Len(t, ops.imported(), before, "nothing reached the runtime")
		nothingLeft(t)
	})
	t.Run("RefusesADigestMismatch", func(t *testing.T) {
		before := len(ops.imported())
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{Sha256: hexSHA256([]byte("other"))}, archive, 7, "")
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		assert.ErrorContains(t, err, api.ErrImageDigestMismatch.Error())
		assert.Len(t, ops.imported(), before, "nothing reached the runtime")
		nothingLeft(t)
	})
	t.Run("RefusesAWrongSize", func(t *testing.T) {
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{Size: int64(len(archive)) + 1}, archive, 7, "")
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		assert.ErrorContains(t, err, api.ErrBadImageArchive.Error())
		nothingLeft(t)
	})
	t.Run("RefusesAMalformedDigestOrSize", func(t *testing.T) {
		for _, start := range []*kubernetesv1.ImportImagesStart{{Sha256: "abc"}, {Size: -1}} {
			_, err := sendImages(ctx, admin, start, archive, 7, "")
			assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", start)
		}
		nothingLeft(t)
	})
	t.Run("RefusesWhatIsTooLarge", func(t *testing.T) {
		big := append([]byte("archive:"), bytes.Repeat([]byte("x"), 1<<20)...)
		before := len(ops.imported())
		// Declared: refused before a byte is stored.
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{Size: int64(len(big))}, big, 64<<10, "")
		assert.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
		assert.ErrorContains(t, err, api.ErrImageArchiveTooLarge.Error())
		// Undeclared: refused once the stream passes the limit.
		_, err = sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{}, big, 64<<10, "")
		assert.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
		assert.ErrorContains(t, err, api.ErrImageArchiveTooLarge.Error())
		assert.Len(t, ops.imported(), before, "nothing reached the runtime")
		nothingLeft(t)
	})
	t.Run("RefusesAnEmptyUploadOrAMissingStart", func(t *testing.T) {
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{}, nil, 7, "")
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		_, err = sendImages(ctx, admin, nil, archive, 7, "")
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		assert.ErrorContains(t, err, "start")
		nothingLeft(t)
	})
	t.Run("ABadArchiveIsAnInvalidArgument", func(t *testing.T) {
		_, err := sendImages(ctx, admin, &kubernetesv1.ImportImagesStart{}, []byte("garbage"), 7, "")
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		assert.ErrorContains(t, err, "unrecognized image format", "the runtime's message reaches the caller")
		nothingLeft(t)
	})
	t.Run("ARuntimeThatDoesNotAnswerIsUnavailable", func(t *testing.T) {
		down := newFakeImages()
		down.down = true
		c := kubernetesClient(t, api.Options{Images: down, ImageUploadDir: dir})
		_, err := sendImages(ctx, c(config.APIRoleAdmin), &kubernetesv1.ImportImagesStart{}, archive, 7, "")
		assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err))
		_, err = c(config.APIRoleReader).ListImages(ctx, connect.NewRequest(&kubernetesv1.ListImagesRequest{}))
		assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err))
		nothingLeft(t)
	})
}

// A node without a container runtime (process mode) refuses both calls
// with failed_precondition, saying why.
func TestImagesWithoutARuntimeAreAFailedPrecondition(t *testing.T) {
	noLeaks(t)
	client := kubernetesClient(t, api.Options{})
	_, err := sendImages(t.Context(), client(config.APIRoleAdmin), &kubernetesv1.ImportImagesStart{}, []byte("archive:x"), 7, "")
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "process mode")
	_, err = client(config.APIRoleReader).ListImages(t.Context(), connect.NewRequest(&kubernetesv1.ListImagesRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "docker or qemu provisioner")
}

// cairnctl -n n2 image import: the endpoint proxies the client stream to
// the named node, whose runtime imports it, the caller's role checked
// there.
func TestImportImagesIsProxiedToTheNamedNode(t *testing.T) {
	noLeaks(t)
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	listeners := map[string]net.Listener{}
	members := staticMembers{}
	for _, name := range []string{"n1", "n2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[name] = ln
		members[name] = netip.MustParseAddrPort(ln.Addr().String())
	}
	n2 := newFakeImages()
	for name, ops := range map[string]api.ImageOps{"n1": nil, "n2": n2} {
		key, csr, err := pki.NewKeyAndCSR(name, []net.IP{net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		crt, err := pki.SignNode(ca, csr, time.Now())
		require.NoError(t, err)
		id, err := pki.NewIdentity(crt, key, []byte(ca.Crt))
		require.NoError(t, err)
		srv := api.New(api.Options{NodeName: name, Identity: id, Membership: members, Images: ops, ImageUploadDir: t.TempDir()})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(listeners[name]) }()
		t.Cleanup(func() {
			require.NoError(t, srv.Shutdown(context.Background()))
			require.NoError(t, <-done)
		})
	}
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(ca.Crt)))
	client := func(role string) kubernetesv1connect.KubernetesServiceClient {
		pair, err := config.GenerateAdminClientCert(ca, "test", []string{role}, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: tr}, "https://"+members["n1"].String(), connect.WithGRPC())
	}
	// Bigger than one HTTP/2 window, in several messages.
	archive := append([]byte("archive:cairn.local/app:v2"), bytes.Repeat([]byte("."), 300<<10)...)
	start := &kubernetesv1.ImportImagesStart{Size: int64(len(archive)), Sha256: hexSHA256(archive)}

	_, err = sendImages(t.Context(), client(config.APIRoleAdmin), start, archive, 64<<10, "")
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "n1 itself runs no runtime")
	_, err = sendImages(t.Context(), client(config.APIRoleReader), start, archive, 64<<10, "n2")
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "the reader's role travels with the call")
	res, err := sendImages(t.Context(), client(config.APIRoleAdmin), start, archive, 64<<10, "n2")
	require.NoError(t, err)
	assert.Equal(t, hexSHA256(archive), res.GetArchiveSha256())
	require.Len(t, n2.imported(), 1)
	assert.Equal(t, archive, n2.imported()[0])
}
