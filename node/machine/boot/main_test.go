//go:build unix

package boot_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// envParent, set to a state directory, makes the test binary a boot stage
// (with signal handling, as cmd/cairnd runs it) whose child is the
// supervisortest program with the arguments in envChildArgs.
const (
	envParent    = "CAIRN_BOOTTEST_PARENT"
	envChildArgs = "CAIRN_BOOTTEST_CHILD_ARGS"
)

// TestMain lets the test binary double as the child program and as a boot
// stage, and fails the package if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	supervisortest.Main()
	if dir := os.Getenv(envParent); dir != "" {
		os.Exit(runParent(dir, strings.Fields(os.Getenv(envChildArgs))))
	}
	goleak.VerifyTestMain(m)
}

func runParent(dir string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := boot.Run(ctx, boot.Options{StateDir: dir, Command: childCommand(args...)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childCommand runs the supervisortest program with args.
func childCommand(args ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(supervisortest.Path(), args...)
		cmd.Env = supervisortest.Env()
		return cmd
	}
}
