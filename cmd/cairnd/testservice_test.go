package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/machine/bootcfg"
)

// asCairndEnv makes the test binary run cairnd's main instead of the
// tests: how a test runs "cairnd test-orphans" without building cairnd.
const asCairndEnv = "CAIRND_TEST_AS_CAIRND"

func TestMain(m *testing.M) {
	if os.Getenv(asCairndEnv) == "1" {
		// As "cairnd test-orphans", without its fixed health port, which
		// the host may use.
		if err := testOrphans(os.Args[2:], ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestTestServices(t *testing.T) {
	specs, err := testServices(bootcfg.TestServiceOrphans, "/init")
	require.NoError(t, err)
	require.Len(t, specs, 1)
	s := specs[testOrphansName]
	require.Equal(t, "/init", s.Path, "the service is cairnd itself: the image has no other program")
	require.Equal(t, []string{"test-orphans"}, s.Args)
	require.NotNil(t, s.Health, "running means ready: its SIGTERM handler is in place")
	require.Equal(t, testOrphansHealthAddr, s.Health.TCP)

	specs, err = testServices("", "/init")
	require.NoError(t, err)
	require.Nil(t, specs)
	_, err = testServices("etcd", "/init")
	require.ErrorIs(t, err, bootcfg.ErrBadArgument)
}

// "cairnd test-orphans" leaves a grandchild in a session of its own that
// outlives it: killed with SIGTERM, the service exits with its own code,
// and the grandchild is then an orphan, reparented to the nearest
// subreaper (this test; PID 1 on a machine), which must reap it.
func TestTestOrphansLeavesAnOrphan(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, testOrphansCommand)
	cmd.Env = append(os.Environ(), asCairndEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as the supervisor starts it
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	gpid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "test-orphans: started grandchild ")))
	require.NoError(t, err, line)

	ppid, sid := statFields(t, gpid)
	require.Equal(t, cmd.Process.Pid, ppid, "the service is the grandchild's parent")
	require.Equal(t, gpid, sid, "the grandchild leads a session of its own, out of the service's group")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	require.Equal(t, testOrphansExitCode, cmd.ProcessState.ExitCode(), "service: %v", err)

	// The service is gone, so the grandchild is ours now, alive or a
	// zombie: wait4 on it fails with ECHILD for anything but a child.
	var ws unix.WaitStatus
	got, err := unix.Wait4(gpid, &ws, 0, nil)
	require.NoError(t, err, "the orphan was reparented to the subreaper")
	require.Equal(t, gpid, got)
	require.True(t, ws.Exited(), "the orphan exits by itself")
	require.Equal(t, 0, ws.ExitStatus())
}

// statFields reads the parent and session of pid from /proc/PID/stat.
func statFields(t *testing.T, pid int) (ppid, sid int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	require.NoError(t, err)
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp session ...
	require.GreaterOrEqual(t, len(f), 4, s)
	_, err = fmt.Sscan(f[1]+" "+f[3], &ppid, &sid)
	require.NoError(t, err)
	return ppid, sid
}
