package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// bin holds the binaries TestMain builds: cairnd, cairnctl, etcd (beside
// cairnd, where process-mode nodes find it), buf.
var bin string

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	dir, err := os.MkdirTemp("", "cairn-integration-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := func() int {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build binaries:", err)
			return 1
		}
		return m.Run()
	}()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the binaries under test, and buf from the tools module.
func build(dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	for _, b := range []struct {
		dir  string
		args []string
	}{
		{"", []string{"build", "-o", dir + "/", "./cmd/cairnd", "./cmd/cairnctl"}},
		// Static, as `make etcd` builds it: the docker provisioner packs it.
		{"tools/etcd", []string{"build", "-trimpath", "-o", dir + "/etcd", "."}},
		{"", []string{"build", "-modfile=tools/go.mod", "-o", dir + "/buf", "github.com/bufbuild/buf/cmd/buf"}},
	} {
		args := b.args
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join(root, b.dir)
		if b.dir == "tools/etcd" {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// localCluster is one `cairnctl cluster create` cluster.
type localCluster struct {
	t     testing.TB
	name  string
	dir   string // HOME and --state for the CLI
	state clusterState
	// admin is the os:admin identity cluster create wrote to dir/cairnconfig.
	admin identity
	// curlTLS are buf curl's --cacert/--cert/--key flags for admin.
	curlTLS []string
	// ctlTimeout bounds each cairnctl run; 2 minutes when zero, longer
	// when cluster create was told to wait longer (VMs under TCG).
	ctlTimeout time.Duration
}

type clusterState struct {
	Name   string      `json:"name"`
	Subnet int         `json:"subnet"`
	Nodes  []nodeState `json:"nodes"`
}

// nodeState is a node of `cluster show -o json`: PID is its cairnd and
// BootPID the boot stage that runs it, both as the boot stage reports them.
type nodeState struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	APIAddress   string `json:"apiAddress"`
	PID          int    `json:"pid"`
	BootPID      int    `json:"bootPid"`
	State        string `json:"state"`
	Restarts     int    `json:"restarts"`
	Unsupervised []int  `json:"unsupervised"`
	LogFile      string `json:"logFile"`
	StateDir     string `json:"stateDir"`
	Running      bool   `json:"running"`
}

// subnetSeq spreads this package's clusters over 127.0.200-249.0/24, apart
// from the CLI's automatic choice (which starts at 10) that other test
// packages running at the same time exercise.
var subnetSeq = 200 + os.Getpid()%50

// freeSubnet returns a /24 of loopback where nothing listens on the node ports.
func freeSubnet(t testing.TB, nodes int) int {
	for range 50 {
		n := subnetSeq
		subnetSeq = 200 + (subnetSeq-199)%50
		free := true
		for i := 1; i <= nodes && free; i++ {
			for _, port := range []int{6440, 6441, 6442} {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.%d:%d", n, i, port))
				if err != nil {
					free = false
					break
				}
				_ = ln.Close()
			}
		}
		if free {
			return n
		}
	}
	t.Fatal("no free 127.0.N.0/24 in 200..249")
	return 0
}

// createCluster runs `cairnctl cluster create` (with extra flags, such as
// --timings fast) and registers its destroy, which a test may also run
// itself.
func createCluster(t testing.TB, name string, controlPlanes, workers int, extra ...string) *localCluster {
	t.Helper()
	c := &localCluster{t: t, name: name, dir: t.TempDir()}
	for i := range len(extra) - 1 {
		if d, err := time.ParseDuration(extra[i+1]); extra[i] == "--wait-timeout" && err == nil {
			c.ctlTimeout = d + time.Minute
		}
	}
	extra = kubernetesOff(extra)
	start := time.Now()
	out, err := c.ctl(append([]string{"cluster", "create", "--name", name,
		"--controlplanes", fmt.Sprint(controlPlanes), "--workers", fmt.Sprint(workers),
		"--subnet", fmt.Sprint(freeSubnet(t, controlPlanes+workers)),
		"--cairnd", filepath.Join(bin, "cairnd"), "--wait-timeout", "90s"}, extra...)...)
	// Destroy also what a failed create left running (VMs, containers),
	// before the temporary directory holding its state goes.
	t.Cleanup(func() {
		if out, err := c.ctl("cluster", "destroy", "--name", name); err != nil && !strings.Contains(out, "cluster not found") {
			t.Errorf("cluster destroy: %v\n%s", err, out)
		}
	})
	if err != nil {
		c.dumpLogs()
	}
	require.NoError(t, err, "cluster create:\n%s", out)
	if slices.Contains(extra, "--wait=false") {
		t.Logf("cluster %s created (its health not waited for) in %s", name, time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("cluster %s created and healthy in %s", name, time.Since(start).Round(time.Millisecond))
	}
	c.refresh()
	c.admin = readIdentity(t, filepath.Join(c.dir, "cairnconfig"))
	c.curlTLS = c.admin.writePEMs(t, filepath.Join(c.dir, "pem"), "admin")
	return c
}

// kubernetesOff adds --kubernetes=false to cluster create's flags unless
// they say --kubernetes themselves: Kubernetes costs every control plane
// three more processes (and its binaries a long first build), so only the
// tests of it ask for it.
func kubernetesOff(extra []string) []string {
	if slices.ContainsFunc(extra, func(a string) bool { return a == "--kubernetes" || strings.HasPrefix(a, "--kubernetes=") }) {
		return extra
	}
	return append(slices.Clone(extra), "--kubernetes=false")
}

// clusterDir is where cluster create keeps the cluster's state.
func (c *localCluster) clusterDir() string { return filepath.Join(c.dir, "clusters", c.name) }

// ctl runs cairnctl with this cluster's HOME and state directory.
func (c *localCluster) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), max(c.ctlTimeout, 2*time.Minute))
	defer cancel()
	global := []string{"--cairnconfig", filepath.Join(c.dir, "cairnconfig")}
	if len(args) > 0 && args[0] == "cluster" {
		args = append(args, "--state", filepath.Join(c.dir, "clusters"))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "cairnctl"), append(global, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// refresh reloads `cluster show -o json`.
func (c *localCluster) refresh() {
	c.t.Helper()
	out, err := c.ctl("cluster", "show", "--name", c.name, "-o", "json")
	require.NoError(c.t, err, out)
	require.NoError(c.t, json.Unmarshal([]byte(out), &c.state), out)
	require.NotEmpty(c.t, c.state.Nodes)
}

func (c *localCluster) node(name string) nodeState {
	for _, n := range c.state.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nodeState{}
}

func (c *localCluster) byRole(role string) []nodeState {
	var out []nodeState
	for _, n := range c.state.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

func (c *localCluster) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(c.clusterDir(), "logs", "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		c.t.Logf("--- %s (last lines)\n%s", l, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

// bufCurl runs buf curl against a node as the cluster's admin (HTTPS with
// the admin's client certificate).
func (c *localCluster) bufCurl(args ...string) (string, error) {
	return bufCurl(append(append([]string(nil), c.curlTLS...), args...)...)
}

// bufCurl runs buf curl with args.
func bufCurl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "buf"), append([]string{"curl"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("buf curl %v: %w", args, err)
	}
	return stdout.String(), nil
}

// client is a gRPC client for one node's cluster service, as the admin.
func (c *localCluster) client(addr string) clusterv1connect.ClusterServiceClient {
	return c.admin.client(addr)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// getConfig reads the configuration from addr as the admin (secrets
// redacted).
func (c *localCluster) getConfig(t testing.TB, addr string, stale bool) *clusterv1.GetConfigResponse {
	t.Helper()
	res, err := c.client(addr).GetConfig(ctxT(t, 10*time.Second), connect.NewRequest(&clusterv1.GetConfigRequest{Stale: stale}))
	require.NoError(t, err, "GetConfig on %s", addr)
	return res.Msg
}
