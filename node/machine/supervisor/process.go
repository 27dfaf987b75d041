package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// process is one running child. Its Wait runs in a goroutine that reports
// on exited exactly once, so every child is reaped whether it exits by
// itself or is stopped.
type process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	exited  chan exitResult // buffered: the Wait goroutine never blocks
}

// exitResult is how a process ended.
type exitResult struct {
	code   int   // exit code, -1 if killed by a signal
	err    error // nil for exit code 0
	uptime time.Duration
}

// startProcess starts spec's program in its own process group with stdout
// and stderr going to out (the write end of the service's log pipe).
// The reaper starts it and gets it back once it is reaped.
func startProcess(spec *Spec, out *os.File, reaper Reaper) (*process, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would inherit the supervisor's environment
	}
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// Setpgid puts the child in a new process group whose ID is its PID,
	// so stop signals reach everything it spawned (kill(2) with -pgid).
	// Pdeathsig kills the child when cairnd dies without stopping it
	// (SIGKILL, a crash): a restarted cairnd must not find the old etcd
	// still holding its ports and data directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(func() error { return reaper.Start(cmd) }); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), exited: make(chan exitResult, 1)}
	go func() {
		// Kill whatever the process leaves behind in its group (daemonized
		// helpers, a shell's children), as systemd's control-group kill
		// mode does: a supervised service runs in the foreground, and
		// leftovers would hold the log pipe open. The leader is not reaped
		// until then, so its PID, which is the group ID, cannot have been
		// reused by an unrelated process.
		if waitExited(p.pid) {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
		err := cmd.Wait()
		reaper.Release(p.pid)
		res := exitResult{code: cmd.ProcessState.ExitCode(), uptime: time.Since(p.started)}
		if err != nil {
			res.err = describeExit(err)
		}
		p.exited <- res
	}()
	return p, nil
}

// spawner is one goroutine locked to its OS thread for the life of the
// process, on which every child is forked. The kernel sends the parent-death
// signal when the forking *thread* exits, not the process (prctl(2),
// PR_SET_PDEATHSIG), and Go ends a thread when a goroutine locked to it
// returns (as namespace helpers do): forking on a thread that never exits
// makes Pdeathsig mean "when cairnd dies".
var (
	spawnOnce sync.Once
	spawnCh   chan spawnRequest
)

type spawnRequest struct {
	start func() error
	done  chan error
}

func spawn(start func() error) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for req := range spawnCh {
				req.done <- req.start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnCh <- spawnRequest{start: start, done: done}
	return <-done
}

// describeExit turns Wait's error into an error that reads "exited with
// code N" or "killed by signal S" and unwraps to the *exec.ExitError.
func describeExit(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("wait: %w", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &exitError{summary: "killed by signal " + ws.Signal().String(), err: err}
	}
	return &exitError{summary: fmt.Sprintf("exited with code %d", ee.ExitCode()), err: err}
}

// exitError is a process's unsuccessful end, in words.
type exitError struct {
	summary string
	err     error
}

func (e *exitError) Error() string { return e.summary }
func (e *exitError) Unwrap() error { return e.err }

// exitSummary describes how a process ended.
func exitSummary(res exitResult) string {
	if res.err == nil {
		return fmt.Sprintf("exited with code %d", res.code)
	}
	return res.err.Error()
}

// stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited after timeout, and returns how it ended.
func (p *process) stop(timeout time.Duration) (res exitResult, killed bool) {
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res = <-p.exited:
		return res, false
	case <-t.C:
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	return <-p.exited, true
}
