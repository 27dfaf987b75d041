package pid1

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// records is a writer that keeps each Write as one record, as /dev/kmsg
// does.
type records struct{ got []string }

func (r *records) Write(p []byte) (int, error) {
	r.got = append(r.got, string(p))
	return len(p), nil
}

func TestKmsgOneRecordPerLineWithPriority(t *testing.T) {
	var r records
	log := slog.New(slog.NewTextHandler(NewKmsg(&r), nil))
	log.Info("booting", "stage", "mounts")
	log.Warn("module missing", "module", "virtio_net")
	log.Error("state disk refused")
	require.Len(t, r.got, 3)
	assert.True(t, strings.HasPrefix(r.got[0], "<6>cairnd: time="), r.got[0])
	assert.True(t, strings.HasPrefix(r.got[1], "<4>cairnd: "), r.got[1])
	assert.True(t, strings.HasPrefix(r.got[2], "<3>cairnd: "), r.got[2])
	for _, rec := range r.got {
		assert.Equal(t, 1, strings.Count(rec, "\n"))
	}
}

func TestKmsgSplitsLongLinesAndWaitsForNewline(t *testing.T) {
	var r records
	k := NewKmsg(&r)
	long := strings.Repeat("x", 2500)
	_, _ = k.Write([]byte(long[:100]))
	assert.Empty(t, r.got, "partial line held back")
	_, _ = k.Write([]byte(long[100:] + "\n"))
	require.Len(t, r.got, 3)
	var joined strings.Builder
	for _, rec := range r.got {
		assert.LessOrEqual(t, len(rec), kmsgMax)
		joined.WriteString(strings.TrimSuffix(strings.TrimPrefix(rec, "<6>"+KmsgPrefix), "\n"))
	}
	assert.Equal(t, long, joined.String())
	_, _ = k.Write([]byte("\n"))
	assert.Equal(t, "<6>"+KmsgPrefix+"\n", r.got[3], "an empty line is still a record")
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("ring full") }

func TestConsoleOutputsFailIndependently(t *testing.T) {
	var buf bytes.Buffer
	w := &allWriter{ws: []io.Writer{failing{}, &buf}}
	n, err := w.Write([]byte("line\n"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, "line\n", buf.String())
}

func TestRecoveredTurnsPanicIntoError(t *testing.T) {
	err := recovered(func() error { panic("boom") })
	require.ErrorContains(t, err, "panic: boom")
	assert.Contains(t, err.Error(), "TestRecoveredTurnsPanicIntoError", "with the stack")
	want := errors.New("plain")
	assert.Equal(t, want, recovered(func() error { return want }))
}

// TestConsoleLeavesEchoedLinesToTheKernel checks that a line the kernel
// prints from /dev/kmsg on the console (priority below the console log
// level) is not written there a second time, and that the rest is.
func TestConsoleLeavesEchoedLinesToTheKernel(t *testing.T) {
	var buf bytes.Buffer
	w := &belowLevel{w: &buf, echoed: 4} // "quiet": the kernel echoes ERROR only
	lines := "time=1 level=INFO msg=a\ntime=2 level=ERROR msg=b\ntime=3 level=WARN msg=c\n"
	n, err := w.Write([]byte(lines))
	require.NoError(t, err)
	assert.Equal(t, len(lines), n)
	assert.Equal(t, "time=1 level=INFO msg=a\ntime=3 level=WARN msg=c\n", buf.String())

	buf.Reset()
	all := &belowLevel{w: &buf, echoed: 0} // no kmsg: the console gets all
	_, _ = all.Write([]byte(lines))
	assert.Equal(t, lines, buf.String())

	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(proc+"/sys/kernel", 0o755))
	require.NoError(t, os.WriteFile(proc+"/sys/kernel/printk", []byte("7\t4\t1\t7\n"), 0o644))
	assert.Equal(t, 7, consoleLogLevel(proc))
	assert.Equal(t, 0, consoleLogLevel(t.TempDir()), "unreadable: echo assumed off")
}
