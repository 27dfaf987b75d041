package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-project/cairn/internal/testutil"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// TestNetworkFromClusterConfig runs cairnd in container mode inside a
// network namespace (and a UTS namespace of its own, as a container has)
// and drives its network through `ApplyConfig`: its sysctl and hostname
// reach its namespaces and not the host's; the change reaches the kernel,
// real packets flow over the addresses and route it configured to a second
// namespace, and removing them from the config removes them from the
// kernel while an address it never managed survives.
func TestNetworkFromClusterConfig(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces")
	pid := os.Getpid()
	x := 20 + pid%200 // this run's subnets: 10.249.x.0/24, 10.253.x.0/24, 10.254.x.0/24
	ns1 := newNetns(t, fmt.Sprintf("cairn-it1-%d", pid))
	ns2 := newNetns(t, fmt.Sprintf("cairn-it2-%d", pid))

	// Root namespace ↔ ns1: how the test reaches the node's API. The
	// address on ns1's eth0 is set out of band: cairnd never manages it.
	host, peer := fmt.Sprintf("cih%d", pid), fmt.Sprintf("cip%d", pid)
	sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	sh(t, "ip", "link", "set", peer, "netns", ns1.name)
	ns1.ip(t, "link", "set", peer, "name", "eth0")
	sh(t, "ip", "addr", "add", fmt.Sprintf("10.249.%d.1/24", x), "dev", host)
	sh(t, "ip", "link", "set", host, "up")
	ns1.ip(t, "addr", "add", fmt.Sprintf("10.249.%d.2/24", x), "dev", "eth0")
	ns1.ip(t, "link", "set", "eth0", "up")

	// ns1 ↔ ns2: a bare link; cairnd configures ns1's side from the config.
	// ns2 plays the other host: its side and a service address on lo.
	a, b := fmt.Sprintf("cia%d", pid), fmt.Sprintf("cib%d", pid)
	sh(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
	sh(t, "ip", "link", "set", a, "netns", ns1.name)
	sh(t, "ip", "link", "set", b, "netns", ns2.name)
	ns1.ip(t, "link", "set", a, "name", "eth1")
	ns2.ip(t, "link", "set", b, "name", "eth1")
	ns2.ip(t, "addr", "add", fmt.Sprintf("10.253.%d.2/24", x), "dev", "eth1")
	ns2.ip(t, "link", "set", "eth1", "up")
	ns2.ip(t, "addr", "add", fmt.Sprintf("10.254.%d.2/32", x), "dev", "lo")

	// A one-node cluster whose node lives in ns1.
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "netns", ControlPlanes: 1})
	require.NoError(t, err)
	nodeIP := fmt.Sprintf("10.249.%d.2", x)
	n := &cfg.Nodes[0]
	n.APIAddress, n.GossipAddress, n.RaftAddress = nodeIP+":6440", nodeIP+":6441", nodeIP+":6442"
	cfg.Cluster.Seeds = []string{nodeIP + ":6441"}
	// A namespaced sysctl the node sets in ns1 only, from a known value.
	const arpIgnore = "/proc/sys/net/ipv4/conf/eth1/arp_ignore"
	sh(t, "ip", "netns", "exec", ns1.name, "sh", "-c", "echo 0 > "+arpIgnore)
	n.Kernel.Sysctls = map[string]string{"net.ipv4.conf.eth1.arp_ignore": "2"}
	hostHostname, err := os.Hostname()
	require.NoError(t, err)
	dir := t.TempDir()
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	cfgPath := filepath.Join(dir, "cluster.yaml")
	require.NoError(t, os.WriteFile(cfgPath, doc, 0o600))
	logFile, err := os.Create(filepath.Join(dir, "cairnd.log"))
	require.NoError(t, err)
	// Container mode owns its UTS namespace (it sets the hostname), as a
	// real container does: unshare gives it one, then execs cairnd.
	cairnd := exec.Command("ip", "netns", "exec", ns1.name, "unshare", "--uts", filepath.Join(bin, "cairnd"),
		"--config", cfgPath, "--name", n.Name, "--state-dir", filepath.Join(dir, "state"), "--mode", "container")
	cairnd.Stdout, cairnd.Stderr = logFile, logFile
	require.NoError(t, cairnd.Start())
	t.Cleanup(func() {
		_ = cairnd.Process.Signal(syscall.SIGTERM)
		_ = cairnd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("cairnd log:\n%s", data)
		}
	})

	pair, err := config.GenerateAdminClientCert(cfg.Secrets.CA, "admin", []string{config.APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	api := newIdentity(t, cfg.Secrets.CA.Crt, pair.Crt, pair.Key).client(n.APIAddress)
	var cur *clusterv1.GetConfigResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := api.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(ct, err)
		cur = res.Msg
	}, 30*time.Second, 50*time.Millisecond)

	// The sysctl and the hostname reach the node's namespaces, not the host's.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		v, err := exec.Command("ip", "netns", "exec", ns1.name, "cat", arpIgnore).Output()
		require.NoError(ct, err)
		assert.Equal(ct, "2\n", string(v))
		h, err := exec.Command("nsenter", "--target", strconv.Itoa(cairnd.Process.Pid), "--uts", "hostname").Output()
		require.NoError(ct, err)
		assert.Equal(ct, n.Name+"\n", string(h))
	}, 20*time.Second, 50*time.Millisecond)
	now, err := os.Hostname()
	require.NoError(t, err)
	assert.Equal(t, hostHostname, now, "the host keeps its hostname")

	// Configure eth1: up, MTU, an address and a route through ns2.
	addr, dst, gw := fmt.Sprintf("10.253.%d.1/24", x), fmt.Sprintf("10.254.%d.0/24", x), fmt.Sprintf("10.253.%d.2", x)
	withNet := mutate(t, cur.Config, func(m map[string]any) {
		nodeAt(m, 0)["network"] = map[string]any{
			"links":     []any{map[string]any{"name": "eth1", "up": true, "mtu": 1400}},
			"addresses": []any{map[string]any{"link": "eth1", "cidr": addr}},
			"routes":    []any{map[string]any{"link": "eth1", "dst": dst, "gateway": gw}},
		}
	})
	res, err := api.ApplyConfig(context.Background(), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: withNet, ExpectedRevision: cur.Revision}))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, ns1.ip(t, "-o", "addr", "show", "dev", "eth1"), addr)
		assert.Contains(ct, ns1.ip(t, "route", "show", dst), "via "+gw)
		assert.Contains(ct, ns1.ip(t, "link", "show", "eth1"), "mtu 1400")
	}, 20*time.Second, 50*time.Millisecond)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m, err := api.Members(context.Background(), connect.NewRequest(&clusterv1.MembersRequest{}))
		require.NoError(ct, err)
		assert.Equal(ct, res.Msg.Revision, m.Msg.Members[0].AppliedConfigRevision)
	}, 10*time.Second, 50*time.Millisecond)

	// Real packets: ns1 reaches ns2's service address only through the
	// address and route cairnd configured.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listener := ns2.helper(ctx, fmt.Sprintf("listen 10.254.%d.2:7777", x))
	out, err := listener.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, listener.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "listening\n", line)
	echo, err := ns1.helper(ctx, fmt.Sprintf("dial 10.254.%d.2:7777", x)).CombinedOutput()
	require.NoError(t, err, string(echo))
	assert.Equal(t, "echo hello\n", string(echo))
	require.NoError(t, listener.Wait())

	// An address added by someone else on the same link is not ours. (Not
	// in 10.253.x.0/24: the kernel drops secondaries with their primary.)
	foreign := fmt.Sprintf("10.252.%d.77/24", x)
	ns1.ip(t, "addr", "add", foreign, "dev", "eth1")

	// Dropping the address and route from the config removes them.
	cur2, err := api.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
	require.NoError(t, err)
	without := mutate(t, cur2.Msg.Config, func(m map[string]any) {
		nodeAt(m, 0)["network"] = map[string]any{
			"links": []any{map[string]any{"name": "eth1", "up": true, "mtu": 1400}},
		}
	})
	_, err = api.ApplyConfig(context.Background(), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: without}))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		addrs := ns1.ip(t, "-o", "addr", "show", "dev", "eth1")
		assert.NotContains(ct, addrs, addr)
		assert.Contains(ct, addrs, foreign, "an address cairnd never managed survives")
		assert.NotContains(ct, ns1.ip(t, "route", "show", dst), "via")
	}, 20*time.Second, 50*time.Millisecond)
	assert.Contains(t, ns1.ip(t, "-o", "addr", "show", "dev", "eth0"), nodeIP+"/24", "the unmanaged API address survives")
	assert.True(t, strings.Contains(ns1.ip(t, "link", "show", "eth1"), "mtu 1400"))
}
