package containerd

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The modules pinned in go.mod, whose versions the binaries must report.
const (
	containerdModule = "github.com/containerd/containerd/v2"
	runcModule       = "github.com/opencontainers/runc"
	cniModule        = "github.com/containernetworking/plugins"
)

// binaries are the files scripts/build-containerd.sh writes, relative to
// its output directory.
var binaries = []string{
	"containerd", "containerd-shim-runc-v2", "ctr", "runc",
	"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap",
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// builtBinaries runs scripts/build-containerd.sh once per test binary, as
// `make containerd` does, into a directory of its own. It always builds
// rather than reusing _out/bin, which may be left from another pin: with
// the Go build cache warm the build is eight links of a few seconds each,
// and cold it is the one compile `make containerd` would do.
func builtBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-containerd-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = dir
		out, err := exec.Command("../../scripts/build-containerd.sh", dir).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build-containerd.sh: %w: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// pin is mod's version in this module's go.mod.
func pin(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", mod).Output()
	require.NoError(t, err, "go list -m %s", mod)
	v := strings.TrimSpace(string(out))
	require.NotEmpty(t, v)
	return v
}

// TestBinariesAreStatic reads each binary's ELF headers: a FROM-scratch
// image has no loader and no libc, so none may ask for an interpreter or
// a shared library.
func TestBinariesAreStatic(t *testing.T) {
	dir := builtBinaries(t)
	for _, name := range binaries {
		t.Run(name, func(t *testing.T) {
			f, err := elf.Open(filepath.Join(dir, name))
			require.NoError(t, err)
			defer f.Close()
			for _, p := range f.Progs {
				assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s has a program interpreter", name)
			}
			libs, err := f.ImportedLibraries()
			require.NoError(t, err)
			assert.Empty(t, libs, "%s needs shared libraries", name)
		})
	}
}

func run(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %v: %s", bin, args, stderr.String())
	return stdout.String() + stderr.String()
}

func TestContainerdReportsThePin(t *testing.T) {
	dir := builtBinaries(t)
	v := pin(t, containerdModule)
	assert.Contains(t, run(t, nil, filepath.Join(dir, "containerd"), "--version"), containerdModule+" "+v)
	assert.Contains(t, run(t, nil, filepath.Join(dir, "ctr"), "--version"), "ctr github.com/containerd/containerd/v2 "+v)
	assert.Contains(t, run(t, nil, filepath.Join(dir, "containerd-shim-runc-v2"), "-v"), "Version:  "+v)
}

// TestRuncReportsThePinAndSeccomp checks the version and that libseccomp
// is linked in: without it runc refuses every container with a seccomp
// profile, which Kubernetes' RuntimeDefault is.
func TestRuncReportsThePinAndSeccomp(t *testing.T) {
	dir := builtBinaries(t)
	out := run(t, nil, filepath.Join(dir, "runc"), "--version")
	assert.Contains(t, out, "runc version "+strings.TrimPrefix(pin(t, runcModule), "v")+"\n")
	assert.Contains(t, out, "libseccomp: ")
}

// TestCNIPluginsReportThePin asks each plugin for its version the way a
// runtime does (CNI_COMMAND=VERSION: the spec versions it speaks, as JSON)
// and without a command, when it names itself and its build version.
func TestCNIPluginsReportThePin(t *testing.T) {
	dir := builtBinaries(t)
	v := pin(t, cniModule)
	for _, name := range []string{"bridge", "host-local", "loopback", "portmap"} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(dir, "cni", name)
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
			out, err := cmd.Output()
			require.NoError(t, err)
			var info struct {
				CNIVersion        string   `json:"cniVersion"`
				SupportedVersions []string `json:"supportedVersions"`
			}
			require.NoError(t, json.Unmarshal(out, &info), "%s", out)
			assert.Contains(t, info.SupportedVersions, "1.0.0")

			about, _ := exec.Command(bin).CombinedOutput() // exits non-zero: no command given
			assert.Contains(t, string(about), v)
		})
	}
}
