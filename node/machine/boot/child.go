//go:build unix

package boot

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// spawn starts cmd in its own process group: a stop reaches whatever it
// spawned into that group, and a terminal's Ctrl-C reaches only the boot
// stage, which then stops the child itself.
// The starter starts it (a reaper keeps off it) and gets it back after its
// Wait.
func spawn(cmd *exec.Cmd, starter Starter) (*child, error) {
	cmd.SysProcAttr = childAttr()
	if err := starter.Start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &child{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan exitResult, 1)}
	go func() {
		err := cmd.Wait()
		starter.Release(c.pid)
		c.exited <- exitResult{summary: describeExit(cmd, err), uptime: time.Since(c.started), clean: err == nil, code: exitCode(cmd)}
	}()
	return c, nil
}

// describeExit says how cmd ended: "exited with code N" or "killed by
// signal S".
func describeExit(cmd *exec.Cmd, err error) string {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "wait: " + err.Error()
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with code %d", cmd.ProcessState.ExitCode())
}

// exitCode is the child's exit code, -1 if it did not exit by itself.
func exitCode(cmd *exec.Cmd) int {
	if cmd.ProcessState == nil {
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM to the child's process group, SIGKILL after timeout,
// and returns how the child ended.
func (c *child) stop(timeout time.Duration) (res exitResult, killed bool) {
	_ = syscall.Kill(-c.pid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res = <-c.exited:
		return res, false
	case <-t.C:
	}
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	return <-c.exited, true
}
