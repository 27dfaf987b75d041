package testutil

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
)

// OpenStore starts a real one-voter Raft store on loopback (node ID "n1",
// consensus.FastTiming, data under t.TempDir()) and waits until it leads
// and serves linearizable reads; edit, when given, adjusts the config
// first. The store is closed when the test ends.
func OpenStore(t testing.TB, edit ...func(*consensus.Config)) *consensus.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := consensus.Config{
		NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "raft"), BindAddr: addr, Timing: consensus.FastTiming(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := consensus.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Bootstrap([]consensus.Server{{ID: "n1", Address: addr, Suffrage: consensus.Voter}}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, _, err := s.List(context.Background(), "", consensus.Linearizable)
		require.NoError(ct, err)
	}, 10*time.Second, 10*time.Millisecond)
	return s
}
