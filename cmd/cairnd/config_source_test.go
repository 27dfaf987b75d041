package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/bootcfg"
)

func TestReadConfigTakesTheEnvironmentThenTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte("from: file\n"), 0o600))
	t.Setenv(bootcfg.EnvConfigData, "from: env\n")

	got, err := readConfig(file)
	require.NoError(t, err)
	assert.Equal(t, "from: env\n", string(got), "a container's environment wins")

	t.Setenv(bootcfg.EnvConfigData, "")
	got, err = readConfig(file)
	require.NoError(t, err)
	assert.Equal(t, "from: file\n", string(got))

	_, err = readConfig("")
	require.ErrorIs(t, err, bootcfg.ErrNoSource)
}
