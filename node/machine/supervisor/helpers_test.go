package supervisor_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// Timings every test uses, shrunk from the production defaults so that a
// crash loop or a health-driven restart takes milliseconds. waitFor bounds
// every wait; reaching it is a failure, never a pass.
const (
	backoffInitial = 20 * time.Millisecond
	backoffMax     = 160 * time.Millisecond
	healthInterval = 20 * time.Millisecond
	checkTimeout   = 5 * time.Second
	stopTimeout    = 5 * time.Second
	waitFor        = 15 * time.Second
	pollEvery      = 5 * time.Millisecond
)

// childSpec is a service running the test binary as the supervisortest
// program with args.
func childSpec(name string, args ...string) supervisor.Spec {
	return supervisor.Spec{
		Name: name, Path: supervisortest.Path(), Env: supervisortest.Env(), Args: args,
		StopTimeout: stopTimeout,
		Backoff:     supervisor.Backoff{Initial: backoffInitial, Max: backoffMax, MinUptime: time.Minute},
	}
}

// fastHealth returns a health check polling every healthInterval that
// restarts after two failures. The timeout stays generous: an exec check
// starts the test binary, which is slow under the race detector.
func fastHealth(h supervisor.HealthCheck) *supervisor.HealthCheck {
	h.Interval, h.Timeout, h.FailureThreshold = healthInterval, checkTimeout, 2
	return &h
}

// harness is a running Supervisor with its log directory and recorded
// events.
type harness struct {
	t      *testing.T
	sup    *supervisor.Supervisor
	dir    string
	events *recorder
	stop   func()
}

// start runs a supervisor over specs until the test ends (or h.stop), then
// checks that Run returned nil and left no zombie children.
func start(t *testing.T, opts *supervisor.Options, specs ...supervisor.Spec) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), events: newRecorder(t)}
	if opts == nil {
		opts = &supervisor.Options{}
	}
	opts.Logger = slog.New(h.events)
	opts.LogDir = h.dir
	opts.ConditionInterval = 10 * time.Millisecond
	h.sup = supervisor.New(*opts)
	for _, s := range specs {
		require.NoError(t, h.sup.Add(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sup.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			require.Empty(t, zombies(t), "zombie children left after Run returned")
		})
	}
	t.Cleanup(h.stop)
	return h
}

// path returns a file name in the test's directory.
func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// status returns a service's status, failing the test if it is unknown.
func (h *harness) status(name string) supervisor.Status {
	h.t.Helper()
	st, err := h.sup.Status(name)
	require.NoError(h.t, err)
	return st
}

// waitStatus waits until cond holds for the service's status.
func (h *harness) waitStatus(name string, what string, cond func(supervisor.Status) bool) supervisor.Status {
	h.t.Helper()
	var last supervisor.Status
	require.EventuallyWithT(h.t, func(c *assert.CollectT) {
		last = h.status(name)
		assert.True(c, cond(last), "%s: want %s, have %+v", name, what, last)
	}, waitFor, pollEvery)
	return last
}

// waitReady waits until the service runs and passes its health check.
func (h *harness) waitReady(name string) supervisor.Status {
	h.t.Helper()
	return h.waitStatus(name, "ready", supervisor.Status.Ready)
}

// waitLine waits until the service's buffered output holds line n times
// (once per start, for a line every process prints).
func (h *harness) waitLine(name, line string, n int) {
	h.t.Helper()
	require.EventuallyWithT(h.t, func(c *assert.CollectT) {
		count := 0
		for _, l := range h.lines(name, -1) {
			if l == line {
				count++
			}
		}
		assert.GreaterOrEqual(c, count, n, "%s: %q printed %d times", name, line, count)
	}, waitFor, pollEvery)
}

// lines returns the service's buffered output, without following.
func (h *harness) lines(name string, tail int) []string {
	h.t.Helper()
	ch, cancel, err := h.sup.Logs(name, false, tail)
	require.NoError(h.t, err)
	defer cancel()
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startTimes reads the start records the program appends to a starts=
// file.
func startTimes(t *testing.T, path string) []time.Time {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []time.Time
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, ns, ok := strings.Cut(line, " ")
		require.True(t, ok, "bad start record %q", line)
		n, err := strconv.ParseInt(ns, 10, 64)
		require.NoError(t, err)
		out = append(out, time.Unix(0, n))
	}
	return out
}

// zombies lists the PIDs of this process's children that have exited but
// were not reaped.
func zombies(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []int
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the process is gone
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 || fields[0] != "Z" || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(s)[0])
		out = append(out, pid)
	}
	return out
}

// processGone reports whether pid no longer runs (it may linger as another
// parent's zombie).
func processGone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}
