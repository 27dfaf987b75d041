package images

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
)

// startLogging starts cmd and returns the first line of its stderr that
// matches re (submatch 1), the rest of stderr left to drain.
func startLogging(t *testing.T, cmd *exec.Cmd, re *regexp.Regexp) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return m[1]
		}
	}
	t.Fatalf("%s exited before logging %s: %v", cmd.Path, re, sc.Err())
	return ""
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test against a local server
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestEchoServesHostnameAndPodIP(t *testing.T) {
	_, echo := builtPrograms(t)
	cmd := exec.Command(echo, "--listen", "127.0.0.1:0")
	cmd.Env = []string{"POD_IP=10.244.0.42"}
	addr := startLogging(t, cmd, regexp.MustCompile(`msg=listening .*\baddr=(\S+)`))

	code, body := httpGet(t, "http://"+addr+"/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "pod-ip: 10.244.0.42\n")
	assert.Contains(t, body, "version: v0.0.1-test\n", "the version given to BuildProgram")
	assert.Regexp(t, `(?m)^hostname: \S+$`, body)
	code, body = httpGet(t, "http://"+addr+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "echo stops cleanly on SIGTERM")
}

func TestEchoListensOnPORT(t *testing.T) {
	_, echo := builtPrograms(t)
	cmd := exec.Command(echo, "--help")
	cmd.Env = []string{"PORT=9999"}
	out, _ := cmd.CombinedOutput()
	assert.Contains(t, string(out), `(default ":9999")`, "PORT sets the default address")
}

func TestPauseExitsZeroOnSIGTERMAndSIGINT(t *testing.T) {
	pause, _ := builtPrograms(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(pause)
		startLogging(t, cmd, regexp.MustCompile(`^pause: (waiting) for`))
		require.NoError(t, cmd.Process.Signal(sig))
		require.NoError(t, cmd.Wait(), "pause exits 0 on %v", sig)
	}
}

// TestPauseReapsOrphans runs pause as PID 1 of a new PID namespace, as
// in a sandbox, and orphans a process into it with nsenter: once that
// process exits, pause must wait for it, or it stays a zombie child of
// pause for good. Needs root (CLONE_NEWPID) and nsenter.
func TestPauseReapsOrphans(t *testing.T) {
	testutil.RequireRoot(t, "a PID namespace")
	nsenter, err := exec.LookPath("nsenter")
	testutil.Require(t, err == nil, "nsenter")
	pause, _ := builtPrograms(t)
	cmd := exec.Command(pause)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	startLogging(t, cmd, regexp.MustCompile(`^pause: (waiting) for`))
	pid := cmd.Process.Pid

	// The subshell exits at once, leaving sleep (its output elsewhere, so
	// that nsenter returns at once too) to the namespace's init.
	out, err := exec.Command(nsenter, "--target", strconv.Itoa(pid), "--pid", "--", "/bin/sh", "-c", "(sleep 2 </dev/null >/dev/null 2>&1 &)").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Eventually(t, func() bool { return len(children(pid)) > 0 }, 10*time.Second, 20*time.Millisecond,
		"the orphan is reparented to pause")
	require.Eventually(t, func() bool { return len(children(pid)) == 0 }, 10*time.Second, 20*time.Millisecond,
		"pause reaped it")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

// children are the processes whose parent is pid, zombies included, as
// "PID STATE" from /proc.
func children(pid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []string
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 2 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, filepath.Base(filepath.Dir(st))+" "+f[0])
		}
	}
	return kids
}

func TestPauseVersion(t *testing.T) {
	pause, _ := builtPrograms(t)
	out, err := exec.Command(pause, "-v").Output()
	require.NoError(t, err)
	assert.Equal(t, "pause (cairn) v0.0.1-test", strings.TrimSpace(string(out)))
}
