package upgrade

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLdflagValue(t *testing.T) {
	for _, tc := range []struct{ ldflags, want string }{
		{"-X " + versionVar + "=v1.2.3", "v1.2.3"},
		{"-s -w -X main.mode=hang -X " + versionVar + "=v2.0.0-rc.1", "v2.0.0-rc.1"},
		{"-X=" + versionVar + "=3df1747-dirty", "3df1747-dirty"},
		{`-X "` + versionVar + `=v1"`, "v1"},
		{"-X main.mode=hang", ""},
		{"-X " + versionVar + "x=v1", ""},
		{"-X", ""},
		{"", ""},
	} {
		assert.Equal(t, tc.want, ldflagValue(tc.ldflags, versionVar), tc.ldflags)
	}
}

// A binary of this module linked with a version is read without running
// it; one without a version, a program of another module and a file that
// is no Go binary are refused as bad artifacts.
func TestArtifactVersion(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "rel")
	cmd := exec.Command("go", "build", "-ldflags", "-X "+versionVar+"=v7.1.0 -X main.mode=hang", "-o", out, "./testdata/release")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, CheckBinary(f))
	v, err := ArtifactVersion(f)
	require.NoError(t, err)
	assert.Equal(t, "v7.1.0", v)

	// This test's own binary: of this module, linked without a version.
	self, err := os.Open(os.Args[0])
	require.NoError(t, err)
	defer self.Close()
	_, err = ArtifactVersion(self)
	require.ErrorIs(t, err, ErrBadArtifact)
	assert.ErrorContains(t, err, "built without a release version")

	script := filepath.Join(dir, "script")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"+strings.Repeat("x", 100)), 0o755))
	sf, err := os.Open(script)
	require.NoError(t, err)
	defer sf.Close()
	_, err = ArtifactVersion(sf)
	require.ErrorIs(t, err, ErrBadArtifact)
	assert.ErrorContains(t, err, "not a cairnd binary")
}
