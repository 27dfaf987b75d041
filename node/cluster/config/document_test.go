package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func TestCheckDocument(t *testing.T) {
	require.NoError(t, config.CheckDocument([]byte("kind: ClusterConfig # é\r\n\tx: 1\n")))
	assert.ErrorIs(t, config.CheckDocument(nil), config.ErrEmptyDocument)
	assert.ErrorIs(t, config.CheckDocument([]byte(" \n")), config.ErrInvalid)
	assert.ErrorIs(t, config.CheckDocument([]byte("a\x00")), config.ErrNotText)
	assert.ErrorIs(t, config.CheckDocument([]byte("\xff")), config.ErrInvalid)
	err := config.CheckDocument([]byte(strings.Repeat("#", config.MaxDocumentBytes+1)))
	require.ErrorIs(t, err, config.ErrTooLarge)
	assert.NotErrorIs(t, err, config.ErrInvalid)
	assert.Contains(t, err.Error(), "the limit is 4 MiB")
}

func TestFormatBytes(t *testing.T) {
	assert.Equal(t, "512 bytes", config.FormatBytes(512))
	assert.Equal(t, "12 KiB", config.FormatBytes(12<<10))
	assert.Equal(t, "4 MiB", config.FormatBytes(4<<20))
	assert.Equal(t, "50 MiB", config.FormatBytes(50<<20))
	assert.Equal(t, "4.0 MiB (4194400 bytes)", config.FormatBytes(4194400))
	assert.Equal(t, "2 GiB", config.FormatBytes(2<<30))
}
