package supervisor_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// TestMain lets the test binary double as the supervised program (see
// supervisortest), and fails the package if a test leaves a goroutine
// behind: every runner, pipe reader, prober and follower must end.
func TestMain(m *testing.M) {
	supervisortest.Main()
	goleak.VerifyTestMain(m, testutil.SpawnerLeak)
}
