package gossip

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLogBridgeRecognizesMemberlistLines feeds lines exactly as memberlist
// v0.6.0 prints them (see logbridge.go for where each comes from).
func TestLogBridgeRecognizesMemberlistLines(t *testing.T) {
	for _, tc := range []struct {
		line    string
		level   slog.Level
		want    string
		suspect string
	}{
		{`[ERR] memberlist: discarding packet with unacceptable label "cairn/b": 127.0.1.2:4000`, slog.LevelError, "label", ""},
		{`[ERR] memberlist: discarding stream with unacceptable label "cairn/b": from=127.0.1.2:4000`, slog.LevelError, "label", ""},
		{`[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=127.0.1.2:4000`, slog.LevelError, "decrypt", ""},
		{`[ERR] memberlist: failed to receive: No installed keys could decrypt the message from=127.0.1.2:4000`, slog.LevelError, "decrypt", ""},
		{`[INFO] memberlist: Suspect cp-2 has failed, no acks received`, slog.LevelInfo, "suspect", "cp-2"},
		{`[WARN] memberlist: Refuting a suspect message (from: cp-3)`, slog.LevelWarn, "", ""},
		{`[DEBUG] memberlist: Stream connection from=127.0.1.2:4000`, slog.LevelDebug, "", ""},
		{`[ERR] Failed to shutdown transport: boom`, slog.LevelError, "", ""},
	} {
		t.Run(tc.line, func(t *testing.T) {
			var got, suspect string
			b := &logBridge{
				log:           slog.New(slog.DiscardHandler),
				labelMismatch: func() { got = "label" },
				decryptFailed: func() { got = "decrypt" },
				suspect:       func(name string) { got, suspect = "suspect", name },
			}
			_, err := b.Write([]byte(tc.line + "\n"))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.suspect, suspect)
			level, _ := parseMemberlistLine(tc.line)
			require.Equal(t, tc.level, level)
		})
	}
}
