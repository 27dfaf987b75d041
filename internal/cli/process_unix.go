//go:build unix

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// startDetached starts bin in its own session (so terminal signals to
// cairnctl do not reach it and it outlives cairnctl), with stdin from
// /dev/null and stdout and stderr appended to logPath.
func startDetached(bin string, args []string, logPath string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bin, err)
	}
	// Reap the child if it exits while this process lives (always in tests,
	// which run cairnctl in-process); otherwise it would linger as a zombie
	// and still look alive to processRunning.
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// processRunning reports whether pid is a live process (not a zombie).
func processRunning(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// processIsNode reports whether pid still runs with marker (the node's
// state directory) in its command line, so that a PID reused after a
// reboot is never signalled. Without procfs it cannot tell and says yes.
func processIsNode(pid int, marker string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if errors.Is(err, fs.ErrNotExist) {
		if _, perr := os.Stat("/proc/self"); perr != nil {
			return true
		}
		return false
	}
	if err != nil {
		return true
	}
	return cmdlineRefersTo(cmdline, marker)
}

// processesOf scans /proc for live processes (other than this one) whose
// command line refers to dir or a path below it, however they were
// started. Without procfs it finds nothing.
func processesOf(dir string) []osProcess {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []osProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !cmdlineRefersTo(cmdline, dir) || !processRunning(pid) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, osProcess{pid: pid, ppid: parentPID(pid), boot: len(args) > 1 && args[1] == "boot"})
	}
	return out
}

// parentPID reads a process's parent from /proc/PID/stat (0 when it
// cannot): the fourth field, after the command name in parentheses, which
// may itself hold spaces and parentheses.
func parentPID(pid int) int {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// terminate sends SIGTERM to pid.
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// killProcess sends SIGKILL to pid alone: a process found by a /proc scan
// may lead a process group that is not the cluster's.
func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
