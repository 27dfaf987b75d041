package testutil

import (
	"os"
	"testing"
)

// RequireRoot is the one rule for tests that need root (mounts,
// namespaces, loop devices, taps): they run as root and skip elsewhere,
// but fail instead of skipping under CI=true (CI runs as root), so that a
// skip can never hide a regression there. need says what root is for,
// such as "loop devices and mounts".
func RequireRoot(t testing.TB, need string) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root for "+need)
}

// Require is RequireRoot's rule for anything CI machines have (root,
// Docker, containerd, nsenter, /bin/sh): when have is false the test is
// skipped, but under CI=true it fails, naming need, since there the lack
// is a broken machine or a regression, never a reason to skip.
func Require(t testing.TB, have bool, need string) {
	t.Helper()
	if have {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs %s, and CI=true forbids skipping (CI has it)", need)
	}
	t.Skipf("needs %s (CI has it and does not skip)", need)
}
