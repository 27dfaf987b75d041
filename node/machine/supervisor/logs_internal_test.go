package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// TestRotatingFile writes lines past the size limit several times: each
// rotation shifts the numbered files, the oldest beyond keep is dropped,
// and no line is split.
func TestRotatingFile(t *testing.T) {
	// The log directory need not exist yet (a machine's fresh state disk).
	path := filepath.Join(t.TempDir(), "logs", "svc.log")
	w := newRotatingFile(path, 10, 2)
	for i := range 7 {
		_, err := fmt.Fprintf(w, "line %d\n", i) // 7 bytes: one line per file
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.Equal(t, "line 6\n", readFile(t, path))
	require.Equal(t, "line 5\n", readFile(t, path+".1"))
	require.Equal(t, "line 4\n", readFile(t, path+".2"))
	require.NoFileExists(t, path+".3")

	// Reopening continues the current file and honours its size.
	w = newRotatingFile(path, 20, 2)
	_, err := w.Write([]byte("line 7\n"))
	require.NoError(t, err)
	_, err = w.Write([]byte("line 8\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, "line 8\n", readFile(t, path))
	require.Equal(t, "line 6\nline 7\n", readFile(t, path+".1"))
	require.Equal(t, "line 5\n", readFile(t, path+".2"))
}

// TestSlowFollowerLosesOldestLines fills a follower's queue past its limit
// without reading: the service is never blocked, and the reader learns how
// many lines it lost, in the supervisor's words, before getting the newest
// ones. internal/linebuf tests the queue itself.
func TestSlowFollowerLosesOldestLines(t *testing.T) {
	l := newLogSink(nil, nil, 3)
	ch, cancel := l.subscribe(0, true)
	defer cancel()
	// Queue all lines at once (one Add, under one lock), so the
	// delivering goroutine cannot take a batch in between.
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	l.lines.Add(lines...)
	require.Equal(t, "[supervisor: 2 log lines dropped for a slow reader]", <-ch)
	require.Equal(t, []string{"line 2", "line 3", "line 4"}, []string{<-ch, <-ch, <-ch})
	cancel()
	for range ch {
	}
}

// TestCloseInterruptsPipeHeldOpen stands in for a process that escaped its
// service's process group and keeps the output pipe open: close gives up
// waiting for end of file after the drain timeout instead of hanging Run.
func TestCloseInterruptsPipeHeldOpen(t *testing.T) {
	l := newLogSink(slog.New(slog.DiscardHandler), nil, 10)
	l.drain = 10 * time.Millisecond
	w, err := l.pipe()
	require.NoError(t, err)
	defer w.Close()
	_, err = w.WriteString("still here\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(l.tail()) == 1 }, 5*time.Second, time.Millisecond)
	l.close()
	require.Equal(t, []string{"still here"}, l.tail())
}

// tail returns every buffered line.
func (l *logSink) tail() []string {
	ch, _ := l.lines.Lines(-1, false)
	var out []string
	for line := range ch {
		out = append(out, line)
	}
	return out
}
