// Package etcdtest runs real etcd members (the binary tools/etcd builds) on
// loopback for tests, with the TLS layout and flags cairnd uses
// (node/machine/etcd): every test talks to etcd exactly as a node does.
package etcdtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/etcd"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// Binary returns an etcd binary: $CAIRN_ETCD when set, else one built from
// tools/etcd once per test binary (the Go build cache makes that a link of
// about a second once `make etcd` or an earlier test built it).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CAIRN_ETCD"); p != "" {
		return p
	}
	buildOnce.Do(func() { built, buildErr = build() })
	require.NoError(t, buildErr)
	return built
}

// build builds tools/etcd's etcd into one directory of the system's
// temporary directory per pin (named for a hash of the module's go.mod and
// go.sum), replacing the binary there by a rename, so every test binary of
// every run shares one 35 MB copy instead of leaving one behind each (a
// running etcd keeps the file it was started from).
func build() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	mod := filepath.Join(filepath.Dir(file), "..", "..", "tools", "etcd")
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), "cairn-etcdtest-"+hex.EncodeToString(h.Sum(nil))[:12])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, fmt.Sprintf("etcd.%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build etcd in %s: %w: %s", mod, err, out)
	}
	bin := filepath.Join(dir, "etcd")
	if err := os.Rename(tmp, bin); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return bin, nil
}

// PKI is an etcd CA for a test cluster.
type PKI struct {
	CA config.CertKeyPair
}

// NewPKI makes a fresh etcd CA.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca, err := config.NewEtcdCA(nil, "etcdtest", time.Now())
	require.NoError(t, err)
	return &PKI{CA: ca}
}

// Member is one running (or stopped) etcd member.
type Member struct {
	etcd.Member
	Binary string
	cmd    *exec.Cmd
	done   chan struct{}
	log    *os.File
}

// Cluster is a set of members sharing one PKI.
type Cluster struct {
	t       testing.TB
	PKI     *PKI
	Token   string
	Members []*Member
}

// NewMember prepares (does not start) a member named name on 127.0.0.1
// with free ports and its certificates written, in a directory of its own.
func (c *Cluster) NewMember(name string) *Member {
	t := c.t
	t.Helper()
	m := &Member{Binary: Binary(t), Member: etcd.Member{
		Name: name, Layout: etcd.Layout{Dir: t.TempDir()}, IP: "127.0.0.1",
		ClientPort: FreePort(t), PeerPort: FreePort(t), Token: c.Token,
	}}
	n := &config.Node{Name: name, Role: config.RoleControlPlane, Network: config.NodeNetwork{
		Addresses: []config.Address{{Link: "lo", CIDR: "127.0.0.1/8"}},
	}}
	_, err := etcd.WriteCerts(m.Layout, c.PKI.CA, n, time.Now())
	require.NoError(t, err)
	return m
}

// StartCluster starts n members that bootstrap one cluster together
// (initial-cluster-state=new) and waits until it answers.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, PKI: NewPKI(t), Token: "etcdtest-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	var peers []etcd.Peer
	for i := range n {
		m := c.NewMember(fmt.Sprintf("m%d", i+1))
		c.Members = append(c.Members, m)
		peers = append(peers, etcd.Peer{Name: m.Name, PeerURL: m.PeerURL()})
	}
	for _, m := range c.Members {
		m.InitialCluster, m.State = peers, etcd.StateNew
		m.Start(t)
	}
	c.WaitHealthy(t)
	return c
}

// Start runs the member's etcd; it is killed when the test ends.
func (m *Member) Start(t testing.TB) {
	t.Helper()
	args, err := m.Args()
	require.NoError(t, err)
	log, err := os.OpenFile(filepath.Join(m.Layout.Dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	cmd := exec.Command(m.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	m.cmd, m.log, m.done = cmd, log, make(chan struct{})
	done := m.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { m.Kill() })
}

// Kill stops the member with SIGKILL and waits for it to exit.
func (m *Member) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	_ = m.log.Close()
	m.cmd = nil
}

// Running reports whether the member's process has not exited.
func (m *Member) Running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Log returns what the member wrote so far, for failure messages.
func (m *Member) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.Layout.Dir, "etcd.log"))
	return string(b)
}

// Endpoints are the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL())
	}
	return out
}

// ClientTLS is cairnd's client TLS for this cluster.
func (c *Cluster) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	conf, err := etcd.LoadClientTLS(c.Members[0].Layout)
	require.NoError(t, err)
	return conf
}

// Client returns a client of the whole cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := etcd.New(c.Endpoints(), c.ClientTLS(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// WaitHealthy waits until every running member answers a status call.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	cli := c.Client(t)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, m := range c.Members {
			if !m.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := cli.Status(ctx, m.ClientURL())
			cancel()
			assert.NoError(ct, err, "member %s: %s", m.Name, lastLines(m.Log(), 5))
		}
	}, 60*time.Second, 100*time.Millisecond)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	end := len(s)
	for i := len(s) - 1; i >= 0 && n >= 0; i-- {
		if s[i] == '\n' {
			n--
			if n < 0 {
				return s[i+1 : end]
			}
		}
	}
	return s
}
