package supervisor_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// receive reads n lines from ch, failing if they do not come in time.
func receive(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	var out []string
	timeout := time.After(waitFor)
	for len(out) < n {
		select {
		case l, ok := <-ch:
			require.True(t, ok, "log stream ended after %q", out)
			out = append(out, l)
		case <-timeout:
			t.Fatalf("got %d of %d lines: %q", len(out), n, out)
		}
	}
	return out
}

// TestLogsTail reads the last lines of a service's stdout and stderr from
// the ring buffer and finds them in its log file too.
func TestLogsTail(t *testing.T) {
	h := start(t, nil, childSpec("static", "print=one", "print=two", "print=three", "stderr=four"))
	h.waitLine("static", "four", 1)

	require.Equal(t, []string{"three", "four"}, h.lines("static", 2))
	require.Equal(t, []string{"one", "two", "three", "four"}, h.lines("static", -1))
	require.Equal(t, []string{"one", "two", "three", "four"}, h.lines("static", 100))
	require.Empty(t, h.lines("static", 0))

	data, err := os.ReadFile(h.path("static.log"))
	require.NoError(t, err)
	require.Equal(t, "one\ntwo\nthree\nfour\n", string(data))
}

// TestLogsFollow follows a ticking service across a restart: the stream
// carries new lines as they are written, including the new process's, and
// ends on cancel.
func TestLogsFollow(t *testing.T) {
	h := start(t, nil, childSpec("ticker", "print=ready", "tick=10ms"))
	h.waitLine("ticker", "tick 1", 1)

	ch, cancel, err := h.sup.Logs("ticker", true, 1)
	require.NoError(t, err)
	defer cancel()
	first := receive(t, ch, 3)
	require.True(t, strings.HasPrefix(first[0], "tick "), "tail line %q", first[0])
	var n int
	_, err = fmt.Sscanf(first[0], "tick %d", &n)
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("tick %d", n+1), fmt.Sprintf("tick %d", n+2)}, first[1:])

	require.NoError(t, h.sup.Restart("ticker"))
	var seen []string
	for !contains(seen, "ready") || !contains(seen, "tick 1") {
		seen = append(seen, receive(t, ch, 1)...)
	}
	require.Contains(t, seen, "terminating on SIGTERM")

	cancel()
	require.Eventually(t, func() bool {
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return true
				}
			default:
				return false
			}
		}
	}, waitFor, pollEvery, "the stream did not end on cancel")
}

func contains(lines []string, line string) bool {
	for _, l := range lines {
		if l == line {
			return true
		}
	}
	return false
}

// TestLogsFollowEndsWithRun checks that a follow ends when the supervisor
// stops, so API streams do not outlive the node's services.
func TestLogsFollowEndsWithRun(t *testing.T) {
	h := start(t, nil, childSpec("quiet"))
	h.waitReady("quiet")
	ch, cancel, err := h.sup.Logs("quiet", true, 0)
	require.NoError(t, err)
	defer cancel()
	h.stop()
	for range ch { // "terminating on SIGTERM", then the end
	}
}

// TestLogRotation makes a service write more than the size limit: the log
// rotates into numbered files, keeps only LogMaxFiles of them, never splits
// a line, and the files together end with the newest lines in order.
func TestLogRotation(t *testing.T) {
	args := []string{"exit=0"}
	var want []string
	for i := range 60 {
		want = append(want, fmt.Sprintf("line %03d", i)) // 9 bytes with the newline
		args = append(args, "print="+want[i])
	}
	spec := childSpec("chatty", args...)
	spec.Restart = supervisor.RestartOnce
	h := start(t, &supervisor.Options{LogMaxSize: 100, LogMaxFiles: 2}, spec)
	h.waitLine("chatty", "line 059", 1)
	h.stop() // closes the files

	var joined string
	for _, suffix := range []string{".2", ".1", ""} {
		data, err := os.ReadFile(h.path("chatty.log" + suffix))
		require.NoError(t, err)
		require.LessOrEqual(t, len(data), 100)
		require.True(t, strings.HasSuffix(string(data), "\n"))
		joined += string(data)
	}
	require.NoFileExists(t, h.path("chatty.log.3"))
	got := strings.Split(strings.TrimSuffix(joined, "\n"), "\n")
	require.Equal(t, want[len(want)-len(got):], got)
	require.Greater(t, len(got), 22, "fewer lines than two full files hold")
}
