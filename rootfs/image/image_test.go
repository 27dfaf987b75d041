package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staticBinary builds a tiny static Go program, a stand-in for cairnd
// that is quick to build and answers --version as cairnd does.
func staticBinary(t *testing.T, version string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := "package main\nimport \"fmt\"\nvar v = \"dev\"\nfunc main() { fmt.Println(\"cairnd\", v) }\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.22\n"), 0o600))
	bin := filepath.Join(dir, "cairnd")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.v="+version, "-o", bin, ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	return data
}

func archive(t *testing.T, o Options) (digest, id string, tarball []byte) {
	t.Helper()
	img, err := Build(o)
	require.NoError(t, err)
	d, err := img.Digest()
	require.NoError(t, err)
	id, err = ID(img)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, img, "cairn/cairnd:"+o.Version))
	return d.String(), id, buf.Bytes()
}

func TestBuildIsReproducible(t *testing.T) {
	bin := staticBinary(t, "v1.2.3")
	d1, id1, tar1 := archive(t, Options{Cairnd: bin, Version: "v1.2.3"})
	d2, id2, tar2 := archive(t, Options{Cairnd: bytes.Clone(bin), Version: "v1.2.3"})
	assert.Equal(t, d1, d2, "manifest digest")
	assert.Equal(t, id1, id2, "image ID (config digest)")
	assert.Equal(t, sha256.Sum256(tar1), sha256.Sum256(tar2), "the archive, byte for byte")

	d3, id3, _ := archive(t, Options{Cairnd: bin, Version: "v1.2.4"})
	assert.NotEqual(t, d1, d3, "the version is an input")
	assert.NotEqual(t, id1, id3)
	d4, _, _ := archive(t, Options{Cairnd: bin, Version: "v1.2.3", Created: time.Unix(1700000000, 0)})
	assert.NotEqual(t, d1, d4, "so is the timestamp")

	etcd := staticBinary(t, "etcd")
	withEtcd := func() Options {
		return Options{Cairnd: bin, Version: "v1.2.3", Binaries: map[string][]byte{EtcdPath: bytes.Clone(etcd), "/opt/x/tool": bytes.Clone(bin)}}
	}
	d5, id5, tar5 := archive(t, withEtcd())
	d6, id6, tar6 := archive(t, withEtcd())
	assert.Equal(t, d5, d6, "with further binaries too")
	assert.Equal(t, id5, id6)
	assert.Equal(t, sha256.Sum256(tar5), sha256.Sum256(tar6))
	assert.NotEqual(t, d1, d5, "the binaries are an input")
}

// layerEntries reads the image's one layer: its entries in order, and the
// content of each regular file.
func layerEntries(t *testing.T, o Options) (names []string, files map[string][]byte) {
	t.Helper()
	img, err := Build(o)
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files = map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, files
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		assert.Zero(t, h.Uid, h.Name)
		if h.Typeflag == tar.TypeReg {
			if strings.HasPrefix(h.Name, "etc/") {
				assert.Equal(t, int64(0o644), h.Mode, h.Name) // data, not programs
			} else {
				assert.Equal(t, int64(0o755), h.Mode, h.Name)
			}
			files[h.Name], err = io.ReadAll(tr)
			require.NoError(t, err)
		}
	}
}

func TestImageHoldsFurtherBinaries(t *testing.T) {
	bin := staticBinary(t, "v9")
	etcd := staticBinary(t, "etcd")
	names, files := layerEntries(t, Options{Cairnd: bin, Version: "v9", Binaries: map[string][]byte{EtcdPath: etcd, "/opt/x/tool": bin}})
	assert.Equal(t, []string{"etc/", "etc/os-release", "opt/", "opt/x/", "opt/x/tool", "run/", "tmp/", "usr/", "usr/bin/", "usr/bin/cairnd", "usr/bin/etcd", "var/", "var/lib/", "var/lib/cairn/"}, names,
		"sorted, the binaries' parents added")
	assert.Equal(t, etcd, files["usr/bin/etcd"])
	assert.Equal(t, bin, files["usr/bin/cairnd"])
}

func TestBuildRefusesABadBinary(t *testing.T) {
	bin := staticBinary(t, "v1")
	for _, p := range []string{"usr/bin/etcd", "/usr/bin/../etcd", "/", CairndPath, "/usr/bin", "/var/lib/cairn"} {
		_, err := Build(Options{Cairnd: bin, Version: "v1", Binaries: map[string][]byte{p: bin}})
		require.ErrorIs(t, err, ErrBinaryPath, p)
	}
	_, err := Build(Options{Cairnd: bin, Version: "v1", Binaries: map[string][]byte{"/opt/a": bin, "/opt/a/b": bin}})
	require.ErrorIs(t, err, ErrBinaryPath, "a file and a directory at once")
	_, err = Build(Options{Cairnd: bin, Version: "v1", Binaries: map[string][]byte{EtcdPath: []byte("#!/bin/sh\n")}})
	require.ErrorIs(t, err, ErrNotStatic)
}

func TestImageHoldsCairndAndTheMountPointsOnly(t *testing.T) {
	bin := staticBinary(t, "v9")
	img, err := Build(Options{Cairnd: bin, Version: "v9"})
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{CairndPath, "boot"}, cf.Config.Entrypoint, "the boot stage, with the A/B slots")
	assert.Equal(t, "v9", cf.Config.Labels[LabelVersion])
	assert.Equal(t, time.Unix(0, 0).UTC(), cf.Created.Time.UTC())
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, "v9", m.Annotations[LabelVersion])

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		assert.Zero(t, h.Uid, h.Name)
		assert.True(t, h.ModTime.Equal(time.Unix(0, 0)), "%s mtime %s", h.Name, h.ModTime)
		switch h.Name {
		case "usr/bin/cairnd":
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			assert.Equal(t, bin, data)
			assert.Equal(t, int64(0o755), h.Mode)
		case "tmp/":
			assert.Equal(t, int64(0o1777), h.Mode)
		}
	}
	assert.Equal(t, []string{"etc/", "etc/os-release", "run/", "tmp/", "usr/", "usr/bin/", "usr/bin/cairnd", "var/", "var/lib/", "var/lib/cairn/"}, names,
		"sorted, and nothing but cairnd and its mount points")
}

func TestBuildRefusesADynamicBinary(t *testing.T) {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		_, err = Build(Options{Cairnd: data, Version: "v1"})
		require.ErrorIs(t, err, ErrNotStatic)
		return
	}
	t.Skip("no /bin/true to try")
}

func TestBuildRefusesNotABinary(t *testing.T) {
	_, err := Build(Options{Cairnd: []byte("#!/bin/sh\n"), Version: "v1"})
	require.ErrorIs(t, err, ErrNotStatic)
}

// TestLoadIntoDocker loads the image with 'docker load' and checks that
// Docker gives it the ID computed here and runs it read-only. It needs
// Docker, which CI has.
func TestLoadIntoDocker(t *testing.T) {
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI has Docker: %v", err)
		}
		t.Skip("needs Docker (runs in CI)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cairnd")
	version := fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())
	require.NoError(t, os.WriteFile(bin, staticBinary(t, version), 0o755))
	img, got, err := FromFile(bin, nil, nil, time.Time{})
	require.NoError(t, err)
	require.Equal(t, version, got, "the version is asked of the binary")
	tag := "cairn/cairnd-imagetest:" + strings.ToLower(version)
	id, err := Load(img, tag)
	require.NoError(t, err)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "--force", tag).Run() })

	out, err := exec.Command("docker", "image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "`+LabelVersion+`"}}`, tag).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, id+" "+version, strings.TrimSpace(string(out)))
	out, err = exec.Command("docker", "run", "--rm", "--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp", tag).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "cairnd "+version, strings.TrimSpace(string(out)), "the entrypoint is the binary")
}
