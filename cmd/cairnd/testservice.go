package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/cairn-project/cairn/node/machine/bootcfg"
	"github.com/cairn-project/cairn/node/machine/controllers"
)

// testServiceUsage is the one line of cairnd's usage about its test-only
// subcommand.
const testServiceUsage = `
"cairnd test-orphans" is a stand-in service for tests (cairn.testservice=).
`

// The test-only stand-in service (bootcfg.TestServiceOrphans). The image
// has no other program, so the service is cairnd itself.
const (
	testOrphansCommand = "test-orphans"
	// testOrphansName is its name as a service.
	testOrphansName = "test-orphans"
	// testOrphansGrandchild is the argument of its grandchild.
	testOrphansGrandchild = "grandchild"
	// testOrphansExitCode is the service's exit code on SIGTERM, so that
	// an exit status the reaper stole (-1) cannot pass for it.
	testOrphansExitCode = 7
	// testOrphansLinger is how long the grandchild outlives the service:
	// long enough to run as an orphan of PID 1, short enough that a test
	// waits for its reaping in seconds.
	testOrphansLinger = time.Second
	// testOrphansHealthAddr is where the service listens once its SIGTERM
	// handler is in place: its TCP health check, so that a test that waits
	// for it to run (healthy) never kills it before it can exit with its
	// own code (a SIGTERM before the handler would end it by the signal).
	testOrphansHealthAddr = "127.0.0.1:6449"
)

// testServices is the ServiceSpec that cairn.testservice=NAME asks for,
// keyed by service name, or nil for none. exe is cairnd's own path.
func testServices(name, exe string) (map[string]controllers.ServiceSpecSpec, error) {
	switch name {
	case "":
		return nil, nil
	case bootcfg.TestServiceOrphans:
		return map[string]controllers.ServiceSpecSpec{
			testOrphansName: {
				Path: exe, Args: []string{testOrphansCommand}, StopTimeout: 5 * time.Second,
				Health: &controllers.ServiceHealthSpec{TCP: testOrphansHealthAddr, Interval: 500 * time.Millisecond, StartPeriod: 30 * time.Second},
			},
		}, nil
	}
	return nil, fmt.Errorf("%w: unknown test service %q", bootcfg.ErrBadArgument, name)
}

// pid1TestServices is the test service cairn.testservice= turns on, as
// node.Options.Services, reported as a boot stage; nil for none.
func pid1TestServices(b *bootReport, name string) map[string]controllers.ServiceSpecSpec {
	if name == "" {
		return nil
	}
	exe, err := os.Executable()
	var specs map[string]controllers.ServiceSpecSpec
	if err == nil {
		specs, err = testServices(name, exe)
	}
	b.stage("test service "+name, "test only", err)
	return specs
}

// runTestOrphans is "cairnd test-orphans": it starts a grandchild in a
// session of its own (setsid), which the supervisor's group kill does not
// reach, then waits for SIGTERM and exits with testOrphansExitCode. The
// grandchild holds the read end of a pipe whose only write end is the
// service's: it reads EOF when the service has died, so it is then an
// orphan (reparented to PID 1), lingers testOrphansLinger and exits, and
// PID 1 must reap it.
func runTestOrphans(args []string) error {
	return testOrphans(args, testOrphansHealthAddr)
}

// testOrphans is runTestOrphans listening on healthAddr ("" for none).
func testOrphans(args []string, healthAddr string) error {
	if len(args) == 1 && args[0] == testOrphansGrandchild {
		return orphanGrandchild(os.NewFile(3, "parent"))
	}
	if len(args) > 0 {
		return fmt.Errorf("test-orphans: unexpected arguments %v", args)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("test-orphans: locate cairnd: %w", err)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	r, w, err := os.Pipe() // close-on-exec: only ExtraFiles reach the grandchild
	if err != nil {
		return fmt.Errorf("test-orphans: %w", err)
	}
	cmd := exec.Command(exe, testOrphansCommand, testOrphansGrandchild)
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// No stdout or stderr: the grandchild must not hold the service's log
	// pipe open after the service is gone.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("test-orphans: start grandchild: %w", err)
	}
	_ = r.Close()
	fmt.Println("test-orphans: started grandchild", cmd.Process.Pid)
	if healthAddr != "" {
		// Ready: SIGTERM now reaches the handler.
		ln, err := net.Listen("tcp", healthAddr)
		if err != nil {
			return fmt.Errorf("test-orphans: health listener: %w", err)
		}
		go acceptAndClose(ln)
	}
	sig := <-term
	fmt.Println("test-orphans: exiting on", sig)
	runtime.KeepAlive(w) // its finalizer would close the grandchild's pipe early
	os.Exit(testOrphansExitCode)
	return nil
}

// acceptAndClose answers the TCP health check until the process exits.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.Close()
	}
}

// orphanGrandchild waits for EOF on parent (the service's death), then
// lingers and exits.
func orphanGrandchild(parent *os.File) error {
	if parent == nil {
		return errors.New("test-orphans grandchild: no pipe on fd 3")
	}
	_, _ = io.Copy(io.Discard, parent)
	time.Sleep(testOrphansLinger) // to live on as an orphan of PID 1, for a moment
	return nil
}
