package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReplacesAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
	require.NoError(t, Write(p, []byte("new"), 0o600))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the temporary file is gone")
}

func TestWriteIfDifferent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	wrote, err := WriteIfDifferent(p, []byte("a"), 0o644)
	require.NoError(t, err)
	assert.True(t, wrote, "a missing file is written")
	wrote, err = WriteIfDifferent(p, []byte("a"), 0o644)
	require.NoError(t, err)
	assert.False(t, wrote, "the same content is not written again")
	wrote, err = WriteIfDifferent(p, []byte("b"), 0o644)
	require.NoError(t, err)
	assert.True(t, wrote)
	got, _ := os.ReadFile(p)
	assert.Equal(t, "b", string(got))
}

func TestWriteIntoMissingDirectoryFails(t *testing.T) {
	assert.Error(t, Write(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o644))
}
