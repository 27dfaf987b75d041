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
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root for %s, and CI=true forbids skipping (CI runs as root)", need)
	}
	t.Skipf("needs root for %s (CI runs as root and does not skip)", need)
}
