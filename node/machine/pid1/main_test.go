package pid1

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// TestMain lets the test binary double as a supervised program
// (supervisortest) and makes the test process a child subreaper, so
// orphans of its children are reparented to it as they would be to PID 1,
// without root.
func TestMain(m *testing.M) {
	supervisortest.Main()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, testutil.SpawnerLeak)
}
