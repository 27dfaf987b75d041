package hclogslog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Raft logs "failed to heartbeat to" on every retry while a peer is down:
// one line per peer per interval, then the count suppressed.
func TestRepeatedWarningsAreRateLimitedPerPeer(t *testing.T) {
	var buf bytes.Buffer
	h := New(slog.New(slog.NewTextHandler(&buf, nil))).(*logger)
	clock := time.Unix(1000, 0)
	h.limit.now = func() time.Time { return clock }

	for range 30 {
		h.Error("failed to heartbeat to", "peer", "127.0.0.2:6442", "error", "connection refused")
		h.Error("failed to heartbeat to", "peer", "127.0.0.3:6442", "error", "connection refused")
		clock = clock.Add(100 * time.Millisecond)
	}
	h.Info("entering follower state", "peer", "x")
	h.Info("entering follower state", "peer", "x")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, 2+2, "one line per peer, and info lines untouched:\n%s", buf.String())

	clock = clock.Add(RepeatInterval)
	buf.Reset()
	h.With("component", "raft").Error("failed to heartbeat to", "peer", "127.0.0.2:6442", "error", "connection refused")
	assert.Contains(t, buf.String(), "suppressed=29", "derived loggers share the limit")
}
