package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// A node started from slots reports its trial and the boot record's last
// fallback in gossip; one started without slots reports neither.
func TestBootMeta(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	assert.Zero(t, bootMeta(Options{StateDir: dir}, log))
	assert.Equal(t, true, bootMeta(Options{StateDir: dir, BootSlot: "B", BootTrial: true}, log).Trial)

	require.NoError(t, os.MkdirAll(filepath.Dir(boot.RecordPath(dir)), 0o700))
	rec := `{"current":"A","booted":"A","fallback":{"slot":"B","reason":"slot B started without confirming it","at":"2026-12-02T10:00:00Z"}}`
	require.NoError(t, os.WriteFile(boot.RecordPath(dir), []byte(rec), 0o600))
	m := bootMeta(Options{StateDir: dir, BootSlot: "A"}, log)
	assert.False(t, m.Trial)
	assert.Equal(t, "B: slot B started without confirming it", m.FallbackReason)
	assert.Equal(t, int64(1796205600), m.FallbackAt.Unix())
}
