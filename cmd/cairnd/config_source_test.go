package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadConfigPrefersTheFileThenTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte("from: file\n"), 0o600))
	t.Setenv(configDataEnv, "from: env\n")

	got, err := readConfig(file)
	require.NoError(t, err)
	assert.Equal(t, "from: file\n", string(got))

	got, err = readConfig("")
	require.NoError(t, err)
	assert.Equal(t, "from: env\n", string(got))

	t.Setenv(configDataEnv, "")
	_, err = readConfig("")
	require.ErrorContains(t, err, "--config is required")

	_, err = readConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
