//go:build unix

package boot_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// recorder is a slog handler that keeps every record, so tests can read
// the exact backoff delays the boot stage logged.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// durations returns the attribute key of every record with message msg.
func (r *recorder) durations(msg, key string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, rec := range r.records {
		if rec.Message != msg {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.Duration())
			}
			return true
		})
	}
	return out
}

// stage is a boot stage run in-process by a test.
type stage struct {
	dir    string
	log    *recorder
	cancel context.CancelFunc
	errc   chan error
}

// startStage runs boot.Run in the background with opts completed for the
// test, waits until its socket answers, and stops it at cleanup.
func startStage(t *testing.T, opts boot.Options) *stage {
	t.Helper()
	return startStageIn(t, shortTempDir(t), opts)
}

// startStageIn is startStage on the state directory dir.
func startStageIn(t *testing.T, dir string, opts boot.Options) *stage {
	t.Helper()
	s := &stage{dir: dir, log: &recorder{}, errc: make(chan error, 1)}
	opts.StateDir = s.dir
	opts.Logger = slog.New(s.log)
	out, err := os.OpenFile(filepath.Join(s.dir, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	opts.Output = out
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.errc <- boot.Run(ctx, opts) }()
	t.Cleanup(func() { s.stop(t) })
	require.Eventually(t, func() bool {
		_, err := s.call(boot.OpStatus)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the control socket answers")
	return s
}

// stop cancels Run (what SIGTERM does in cairnd) and waits for it.
func (s *stage) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.errc:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("boot.Run did not return")
	}
}

func (s *stage) call(op boot.Op) (boot.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return boot.Call(ctx, s.dir, op)
}

func (s *stage) mustCall(t *testing.T, op boot.Op) boot.Status {
	t.Helper()
	st, err := s.call(op)
	require.NoError(t, err, "%s", op)
	return st
}

// shortTempDir is a temporary directory with a path short enough for a
// unix socket (108 bytes), which t.TempDir's long test names can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "boot")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// alive reports whether pid is a process that has not exited: kill(0)
// reaches it and it is not a zombie waiting for a reaper.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// count returns how many records have message msg.
func (r *recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Message == msg {
			n++
		}
	}
	return n
}
