package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-project/cairn/rootfs/internal/oci"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
)

// programs are pause and echo built once for the package's tests (as
// BuildProgram builds them for mkimages); pause stands in for the kube
// binary too, which is too big to build in a test.
var programs struct {
	once        sync.Once
	dir         string
	pause, echo string
	err         error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if programs.dir != "" {
		_ = os.RemoveAll(programs.dir)
	}
	os.Exit(code)
}

func builtPrograms(t *testing.T) (pause, echo string) {
	t.Helper()
	programs.once.Do(func() {
		if programs.dir, programs.err = os.MkdirTemp("", "cairn-images-test-"); programs.err != nil {
			return
		}
		programs.pause = filepath.Join(programs.dir, "pause")
		programs.echo = filepath.Join(programs.dir, "echo")
		if programs.err = BuildProgram(PausePackage, "v0.0.1-test", programs.pause); programs.err == nil {
			programs.err = BuildProgram(EchoPackage, "v0.0.1-test", programs.echo)
		}
	})
	require.NoError(t, programs.err)
	return programs.pause, programs.echo
}

// allSpecs are what mkimages ships, with the pause binary as the kube
// stand-in.
func allSpecs(t *testing.T, version string, o Options) []Spec {
	t.Helper()
	pause, echo := builtPrograms(t)
	kube, err := Kube(pause, o)
	require.NoError(t, err)
	return append([]Spec{Pause(pause, version), Echo(echo, version)}, kube...)
}

func buildArchive(t *testing.T, version string, o Options) (map[string]v1.Image, []byte) {
	t.Helper()
	imgs, err := BuildAll(allSpecs(t, version, o), o)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteOCIArchive(&buf, imgs))
	return imgs, buf.Bytes()
}

func digests(t *testing.T, imgs map[string]v1.Image) map[string]string {
	t.Helper()
	ds := map[string]string{}
	for ref, img := range imgs {
		d, err := img.Digest()
		require.NoError(t, err)
		ds[ref] = d.String()
	}
	return ds
}

func TestBuildIsReproducible(t *testing.T) {
	imgs1, tar1 := buildArchive(t, "v1.0.0", Options{})
	imgs2, tar2 := buildArchive(t, "v1.0.0", Options{})
	assert.Equal(t, digests(t, imgs1), digests(t, imgs2), "manifest digests")
	assert.Equal(t, sha256.Sum256(tar1), sha256.Sum256(tar2), "the archive, byte for byte")

	imgs3, _ := buildArchive(t, "v1.0.1", Options{})
	d1, d3 := digests(t, imgs1), digests(t, imgs3)
	assert.NotEqual(t, d1[PauseRef], d3[PauseRef], "the version is an input")
	assert.Equal(t, d1[KubeRegistry+"/kube-apiserver:"+KubeVersion], d3[KubeRegistry+"/kube-apiserver:"+KubeVersion],
		"the Kubernetes images carry Kubernetes' version, not Cairn's")
	imgs4, _ := buildArchive(t, "v1.0.0", Options{Created: time.Unix(1700000000, 0)})
	assert.NotEqual(t, d1[PauseRef], digests(t, imgs4)[PauseRef], "so is the timestamp")
}

// archiveFiles reads a tar: every regular file's content by name, and the
// names in order.
func archiveFiles(t *testing.T, data []byte) (map[string][]byte, []string) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, names
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[h.Name] = b
		}
	}
}

// extract writes a tar's regular files under dir.
func extract(t *testing.T, data []byte, dir string) {
	t.Helper()
	files, _ := archiveFiles(t, data)
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}

func TestOCIArchiveNamesEveryImageAndStoresTheKubeLayerOnce(t *testing.T) {
	imgs, data := buildArchive(t, "v1.2.3", Options{})
	files, _ := archiveFiles(t, data)
	assert.JSONEq(t, `{"imageLayoutVersion":"1.0.0"}`, string(files["oci-layout"]))

	var index v1.IndexManifest
	require.NoError(t, json.Unmarshal(files["index.json"], &index))
	var refs []string
	for _, m := range index.Manifests {
		refs = append(refs, m.Annotations[AnnotationImageName])
		assert.Equal(t, m.Annotations[AnnotationImageName], m.Annotations[AnnotationRefName])
		require.NotNil(t, m.Platform)
		assert.Equal(t, "linux/amd64", m.Platform.OS+"/"+m.Platform.Architecture)
		assert.Contains(t, files, "blobs/sha256/"+m.Digest.Hex, "the manifest is in the archive")
	}
	want := []string{
		"cairn.local/echo:v1.2.3",
		"registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/kube-controller-manager:v1.37.2",
		"registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/kube-scheduler:v1.37.2",
		"registry.k8s.io/pause:3.10.2",
	}
	assert.Equal(t, want, refs, "one manifest per reference, sorted")

	// Read it back with go-containerregistry's own OCI layout reader.
	dir := t.TempDir()
	extract(t, data, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	kubeLayers := map[string]bool{}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		require.NoError(t, err)
		ref := m.Annotations[AnnotationImageName]
		d, err := imgs[ref].Digest()
		require.NoError(t, err)
		assert.Equal(t, d, m.Digest, ref)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 1, ref)
		ld, err := layers[0].Digest()
		require.NoError(t, err)
		switch title := cf.Config.Labels[LabelTitle]; {
		case ref == PauseRef:
			assert.Equal(t, []string{PausePath}, cf.Config.Entrypoint)
			assert.Equal(t, "65535:65535", cf.Config.User)
		case strings.HasPrefix(ref, EchoRepo+":"):
			assert.Equal(t, []string{EchoPath}, cf.Config.Entrypoint)
			assert.Contains(t, cf.Config.ExposedPorts, "8080/tcp")
			assert.Equal(t, "v1.2.3", cf.Config.Labels[LabelVersion])
		default:
			assert.Equal(t, []string{KubePath, title}, cf.Config.Entrypoint, ref)
			assert.Equal(t, KubeVersion, cf.Config.Labels[LabelVersion])
			kubeLayers[ld.String()] = true
		}
	}
	assert.Len(t, kubeLayers, 1, "the four Kubernetes images share one layer")
	blobs := 0
	for name := range files {
		if strings.HasPrefix(name, "blobs/") {
			blobs++
		}
	}
	// 6 manifests + 6 configs + pause's, echo's and the one kube layer.
	assert.Equal(t, 6+6+3, blobs, "every blob once")
}

// layerTree is an image's one layer: each entry's name, type and link.
func layerTree(t *testing.T, img v1.Image) (entries []string, files map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	files = map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, files
		}
		require.NoError(t, err)
		assert.Equal(t, 0, h.Uid+h.Gid, "owned by root")
		assert.Equal(t, int64(0), h.ModTime.Unix(), "the fixed mtime")
		e := h.Name
		if h.Typeflag == tar.TypeSymlink {
			e += " -> " + h.Linkname
		}
		entries = append(entries, e)
		if h.Typeflag == tar.TypeReg {
			files[h.Name], err = io.ReadAll(tr)
			require.NoError(t, err)
		}
	}
}

func TestImagesHoldTheirProgramsOnly(t *testing.T) {
	pause, echo := builtPrograms(t)
	imgs, _ := buildArchive(t, "v1.2.3", Options{})
	entries, files := layerTree(t, imgs[PauseRef])
	assert.Equal(t, []string{"pause"}, entries)
	pauseBin, err := os.ReadFile(pause)
	require.NoError(t, err)
	assert.Equal(t, pauseBin, files["pause"])

	entries, files = layerTree(t, imgs[EchoRepo+":v1.2.3"])
	assert.Equal(t, []string{"usr/", "usr/bin/", "usr/bin/cairn-echo"}, entries)
	echoBin, err := os.ReadFile(echo)
	require.NoError(t, err)
	assert.Equal(t, echoBin, files["usr/bin/cairn-echo"])

	entries, files = layerTree(t, imgs[KubeRegistry+"/kube-scheduler:"+KubeVersion])
	assert.Equal(t, []string{
		"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/kube",
		"usr/local/bin/kube-apiserver -> kube", "usr/local/bin/kube-controller-manager -> kube",
		"usr/local/bin/kube-proxy -> kube", "usr/local/bin/kube-scheduler -> kube",
	}, entries)
	assert.Equal(t, pauseBin, files["usr/local/bin/kube"], "the kube binary given")
}

func TestProgramsAreStatic(t *testing.T) {
	pause, echo := builtPrograms(t)
	for _, p := range []string{pause, echo} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NoError(t, oci.CheckStatic(b), p)
	}
}

func TestBuildRefuses(t *testing.T) {
	pause, _ := builtPrograms(t)
	for name, tc := range map[string]struct {
		spec Spec
		err  error
	}{
		"no tag":             {Spec{Ref: "registry.k8s.io/pause", Files: map[string]File{"/p": {Source: pause}}}, ErrSpec},
		"no files":           {Spec{Ref: "cairn.local/x:1"}, ErrSpec},
		"data and link":      {Spec{Ref: "cairn.local/x:1", Files: map[string]File{"/p": {Data: []byte("x"), Link: "y"}}}, ErrSpec},
		"relative path":      {Spec{Ref: "cairn.local/x:1", Files: map[string]File{"p": {Data: []byte("x")}}}, ErrPath},
		"file and directory": {Spec{Ref: "cairn.local/x:1", Files: map[string]File{"/p": {Data: []byte("x")}, "/p/q": {Data: []byte("y")}}}, ErrPath},
		"not ELF":            {Spec{Ref: "cairn.local/x:1", Files: map[string]File{"/p": {Data: []byte("#!/bin/sh\n"), Static: true}}}, ErrNotStatic},
	} {
		_, err := Build(tc.spec, Options{})
		assert.ErrorIs(t, err, tc.err, name)
	}
	_, err := BuildAll([]Spec{Pause(pause, "v1"), Pause(pause, "v2")}, Options{})
	assert.ErrorIs(t, err, ErrSpec, "one reference twice")
}

func TestBuildRefusesADynamicBinary(t *testing.T) {
	// /bin/sh on any Linux with a libc is dynamically linked.
	sh, err := filepath.EvalSymlinks("/bin/sh")
	testutil.Require(t, err == nil, "/bin/sh")
	_, err = Build(Binary("cairn.local/sh:1", "sh", "1", sh, "/bin/sh", nil), Options{})
	require.ErrorIs(t, err, ErrNotStatic)
}

func TestCoreDNSHook(t *testing.T) {
	pause, _ := builtPrograms(t)
	img, err := Build(CoreDNS(pause, "v1.12.4"), Options{})
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/coredns"}, cf.Config.Entrypoint)
	assert.Contains(t, cf.Config.ExposedPorts, "53/udp")
	entries, _ := layerTree(t, img)
	assert.Equal(t, []string{"coredns"}, entries)
}

// TestKubeVersionIsThePin keeps the component images' tag equal to the
// Kubernetes that `make kube` builds.
func TestKubeVersionIsThePin(t *testing.T) {
	mod, err := os.ReadFile("../../tools/kube/go.mod")
	require.NoError(t, err)
	var pins []string
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "k8s.io/kubernetes" {
			pins = append(pins, f[1])
		}
	}
	sort.Strings(pins)
	require.NotEmpty(t, pins, "tools/kube/go.mod requires k8s.io/kubernetes")
	assert.Equal(t, KubeVersion, pins[0])
}

// TestCoreDNSVersionIsThePin: the DNS image's tag is the CoreDNS that
// tools/coredns builds.
func TestCoreDNSVersionIsThePin(t *testing.T) {
	mod, err := os.ReadFile("../../tools/coredns/go.mod")
	require.NoError(t, err)
	var pin string
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "github.com/coredns/coredns" || (f[0] == "require" && len(f) >= 3 && f[1] == "github.com/coredns/coredns")) {
			pin = f[len(f)-1]
		}
	}
	assert.Equal(t, CoreDNSVersion, pin)
}
