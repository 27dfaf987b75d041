package nodelog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/node/machine/nodelog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is stderr for a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

func newLog(t *testing.T, o nodelog.Options) (*nodelog.Log, *slog.Logger) {
	t.Helper()
	l, err := nodelog.New(o)
	require.NoError(t, err)
	return l, slog.New(l.Handler())
}

// collect reads every line of a channel that gets closed.
func collect(ch <-chan string) []string {
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}

func TestTeeWritesTheSameLinesToOutAndTheRing(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			out := &syncBuffer{}
			l, log := newLog(t, nodelog.Options{Out: out, Format: format})
			log.With("component", "api").Info("serving node API", "addr", "127.0.0.1:6440")
			log.Warn("two\nlines in one message")

			ch, cancel := l.Lines(-1, false)
			defer cancel()
			got := collect(ch)
			require.Len(t, got, 2, "one record is one line, newlines and all")
			assert.Equal(t, out.lines(), got)
			assert.Contains(t, got[0], "serving node API")
			assert.Contains(t, got[0], "component")
			if format == "json" {
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(got[1]), &rec))
				assert.Equal(t, "WARN", rec["level"])
			}
		})
	}
}

func TestUnknownFormatIsRefused(t *testing.T) {
	_, err := nodelog.New(nodelog.Options{Format: "logfmt"})
	require.ErrorIs(t, err, nodelog.ErrFormat)
}

func TestRingKeepsTheNewestLinesWithinBothBounds(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		l, log := newLog(t, nodelog.Options{MaxLines: 3})
		for i := range 10 {
			log.Info("line", "i", i)
		}
		ch, _ := l.Lines(-1, false)
		got := collect(ch)
		require.Len(t, got, 3)
		for i, line := range got {
			assert.Contains(t, line, fmt.Sprintf("i=%d", 7+i))
		}
		ch, _ = l.Lines(2, false)
		assert.Equal(t, got[1:], collect(ch), "tail takes the newest")
		ch, _ = l.Lines(0, false)
		assert.Empty(t, collect(ch))
	})
	t.Run("bytes", func(t *testing.T) {
		l, log := newLog(t, nodelog.Options{MaxBytes: 1000})
		for i := range 100 {
			log.Info("line", "i", i, "pad", strings.Repeat("x", 100))
		}
		ch, _ := l.Lines(-1, false)
		got := collect(ch)
		total := 0
		for _, line := range got {
			total += len(line)
		}
		assert.LessOrEqual(t, total, 1000)
		assert.Greater(t, total, 1000-len(got[0]), "evicts no more than it must")
		assert.Contains(t, got[len(got)-1], "i=99")

		log.Info("huge", "pad", strings.Repeat("y", 5000))
		ch, _ = l.Lines(-1, false)
		got = collect(ch)
		require.Len(t, got, 1, "a line past the byte bound is cut, not dropped")
		assert.Len(t, got[0], 1000)
	})
}

func TestFollowSendsTheTailThenNewLines(t *testing.T) {
	l, log := newLog(t, nodelog.Options{})
	log.Info("before", "i", 1)
	log.Info("before", "i", 2)

	ch, cancel := l.Lines(1, true)
	log.Info("after", "i", 3)
	first, second := <-ch, <-ch
	assert.Contains(t, first, "i=2")
	assert.Contains(t, second, "msg=after")

	cancel()
	_, open := <-ch
	assert.False(t, open, "cancel ends the stream")
	log.Info("after cancel")
}

func TestSlowFollowerDoesNotBlockLoggingAndIsToldWhatItLost(t *testing.T) {
	l, log := newLog(t, nodelog.Options{MaxLines: 10})
	ch, cancel := l.Lines(0, true)
	defer cancel()
	const total = 500
	for i := range total { // nobody reads ch meanwhile: this must not block
		log.Info("line", "i", i)
	}
	received, dropped := 0, 0
	for line := range ch {
		if strings.Contains(line, "dropped for a slow reader") {
			var n int
			_, err := fmt.Sscanf(line[strings.Index(line, "dropped="):], "dropped=%d", &n)
			require.NoError(t, err, line)
			assert.Contains(t, line, "level=WARN")
			dropped += n
			continue
		}
		received++
		if strings.Contains(line, fmt.Sprintf("i=%d", total-1)) {
			break
		}
	}
	assert.Positive(t, dropped)
	assert.Equal(t, total, received+dropped, "every line is either delivered or counted")
	assert.LessOrEqual(t, received, 2*10, "bounded: the batch being sent plus the backlog")
}

func TestSetLevelTakesEffectAtOnce(t *testing.T) {
	out := &syncBuffer{}
	l, log := newLog(t, nodelog.Options{Out: out, Level: slog.LevelInfo})
	derived := log.With("component", "gossip")
	derived.Debug("hidden")
	assert.Equal(t, slog.LevelInfo, l.SetLevel(slog.LevelDebug))
	assert.Equal(t, slog.LevelDebug, l.Level())
	derived.Debug("shown")
	l.SetLevel(slog.LevelError)
	derived.Warn("hidden too")

	ch, _ := l.Lines(-1, false)
	got := collect(ch)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "msg=shown")
	assert.Equal(t, got, out.lines(), "stderr follows the same level")
}
