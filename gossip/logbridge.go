package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// logBridge turns memberlist's log lines into slog records and, because
// memberlist reports some events only in its log, recognizes those lines:
//
//   - "discarding packet|stream with unacceptable label": a peer of another
//     cluster ID (memberlist net.go, ingestPacket and handleConn);
//   - "Decrypt packet failed" and "no installed keys could decrypt": a peer
//     with another key (net.go and security.go, decryptPayload);
//   - "Suspect NAME has failed, no acks received": this node's probe of NAME
//     failed (state.go, probeNode).
//
// The phrases are pinned to memberlist v0.6.0 and covered by
// logbridge_test.go, so an upgrade that rewords them fails a test rather
// than silently zeroing the counters.
type logBridge struct {
	log *slog.Logger
	// Exactly one of these runs per recognized line.
	labelMismatch func()
	decryptFailed func()
	suspect       func(name string)
}

// logger returns a *log.Logger for memberlist.Config.Logger that writes
// through b. Memberlist formats one line per Write.
func (b *logBridge) logger() *log.Logger {
	return log.New(b, "", 0)
}

// Write handles one memberlist log line. It never fails.
func (b *logBridge) Write(p []byte) (int, error) {
	level, text := parseMemberlistLine(string(p))
	b.classify(text)
	ctx := context.Background()
	if b.log.Enabled(ctx, level) {
		b.log.Log(ctx, level, "memberlist", "text", text)
	}
	return len(p), nil
}

func (b *logBridge) classify(text string) {
	switch {
	case strings.Contains(text, "unacceptable label"):
		b.labelMismatch()
	case strings.Contains(text, "Decrypt packet failed"),
		strings.Contains(strings.ToLower(text), "no installed keys could decrypt"):
		b.decryptFailed()
	default:
		if name, ok := suspectName(text); ok {
			b.suspect(name)
		}
	}
}

// suspectName extracts NAME from "Suspect NAME has failed, no acks received".
func suspectName(text string) (string, bool) {
	rest, ok := strings.CutPrefix(text, "Suspect ")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, " has failed, no acks received")
}

// parseMemberlistLine splits "[WARN] memberlist: text\n" into a slog level
// and the text. Lines without a level tag are logged at Info.
func parseMemberlistLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelInfo
	if tag, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(tag, "[") {
		switch tag[1:] {
		case "DEBUG":
			level = slog.LevelDebug
		case "WARN":
			level = slog.LevelWarn
		case "ERR", "ERROR":
			level = slog.LevelError
		}
		line = rest
	}
	return level, strings.TrimPrefix(line, "memberlist: ")
}
