package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/pki"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// etcdStatus is the part of a node's EtcdStatus resource the tests read.
type etcdStatus struct {
	Phase     string   `json:"phase"`
	Healthy   bool     `json:"healthy"`
	Reason    string   `json:"reason"`
	MemberID  string   `json:"memberID"`
	ClusterID string   `json:"clusterID"`
	Learner   bool     `json:"learner"`
	Leader    string   `json:"leader"`
	Members   int      `json:"members"`
	Alarms    []string `json:"alarms"`
	ClientURL string   `json:"clientURL"`
}

// etcdStatusOf reads node's EtcdStatus/etcd through its API.
func (c *localCluster) etcdStatusOf(addr string) (etcdStatus, error) {
	rc := resourcev1connect.NewResourceServiceClient(c.admin.httpClient(), "https://"+addr, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := rc.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: "EtcdStatus", Id: "etcd"}))
	if err != nil {
		return etcdStatus{}, err
	}
	var st etcdStatus
	err = yaml.Unmarshal([]byte(res.Msg.GetResource().GetSpecYaml()), &st)
	return st, err
}

// awaitEtcd waits until every control plane named reports a healthy voting
// member of one etcd cluster of len(names) members, and returns its ID.
func (c *localCluster) awaitEtcd(t testing.TB, timeout time.Duration, names ...string) string {
	t.Helper()
	return c.awaitEtcdWhere(t, timeout, func(n int) bool { return n == len(names) }, names...)
}

// awaitEtcdWhere waits until every node named reports a healthy voter of
// one etcd cluster whose member count satisfies members, and returns the
// cluster's ID.
func (c *localCluster) awaitEtcdWhere(t testing.TB, timeout time.Duration, members func(int) bool, names ...string) string {
	t.Helper()
	var id string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ids := map[string]bool{}
		for _, n := range names {
			st, err := c.etcdStatusOf(c.node(n).APIAddress)
			if !assert.NoError(ct, err, n) {
				continue
			}
			assert.True(ct, st.Healthy, "%s: %s (%s)", n, st.Phase, st.Reason)
			assert.False(ct, st.Learner, "%s is still a learner", n)
			assert.True(ct, members(st.Members), "%s sees %d members", n, st.Members)
			ids[st.ClusterID] = true
		}
		if assert.Len(ct, ids, 1, "one etcd cluster ID: %v", ids) {
			for k := range ids {
				id = k
			}
		}
	}, timeout, 200*time.Millisecond)
	return id
}

// etcdTLS is a client TLS configuration with an etcd client certificate
// issued from the cluster's etcd CA, as cairnd's or kube-apiserver's.
func (c *localCluster) etcdTLS(t testing.TB) *tls.Config {
	t.Helper()
	s := c.secrets(t)
	pair, err := pki.IssueEtcdClient(s.EtcdCA, "integration-test", time.Now())
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(s.EtcdCA.Crt)))
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// etcdClient is an etcd client of the named control planes' members.
func (c *localCluster) etcdClient(t testing.TB, conf *tls.Config, names ...string) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, n := range names {
		eps = append(eps, "https://"+hostOf(c.node(n).APIAddress)+":2379")
	}
	if conf == nil { // plaintext
		for i := range eps {
			eps[i] = strings.Replace(eps[i], "https://", "http://", 1)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: conf, DialTimeout: 3 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func hostOf(addr string) string {
	h, _, _ := strings.Cut(addr, ":")
	return h
}

// etcdPID finds the etcd process of a node: the one whose command line
// names the node's state directory.
func etcdPID(t testing.TB, n nodeState) int {
	t.Helper()
	for _, pid := range processesReferring(n.StateDir) {
		exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
		if err == nil && filepath.Base(exe) == "etcd" {
			return pid
		}
	}
	return 0
}

// createClusterEnv is createCluster with extra environment variables for
// cairnctl, which the nodes' boot stages and every cairnd they run inherit
// (the process provisioner starts them without an environment of their
// own): how a fault point is armed on every node from the first boot.
//
// With crashOK, a create whose wait ended because a node's cairnd exited
// (ErrNodeExited: cluster create gives up on the first crash, while the
// boot stage restarts it) is not a failure: the cluster is left running,
// and the test goes on with the client config create wrote into the
// cluster's directory.
func createClusterEnv(t testing.TB, env []string, crashOK bool, name string, controlPlanes, workers int, extra ...string) *localCluster {
	t.Helper()
	c := &localCluster{t: t, name: name, dir: t.TempDir()}
	extra = kubernetesOff(extra)
	start := time.Now()
	out, err := c.ctlEnv(env, append([]string{"cluster", "create", "--name", name,
		"--controlplanes", fmt.Sprint(controlPlanes), "--workers", fmt.Sprint(workers),
		"--subnet", fmt.Sprint(freeSubnet(t, controlPlanes+workers)),
		"--cairnd", filepath.Join(bin, "cairnd"), "--wait-timeout", "90s"}, extra...)...)
	t.Cleanup(func() {
		if out, err := c.ctl("cluster", "destroy", "--name", name); err != nil && !strings.Contains(out, "cluster not found") {
			t.Errorf("cluster destroy: %v\n%s", err, out)
		}
	})
	switch {
	case err != nil && crashOK && strings.Contains(out, "node process exited"):
		t.Logf("cluster %s: create stopped waiting after %s: a cairnd exited (%s)", name,
			time.Since(start).Round(time.Millisecond), lastLineWith(out, "node process exited"))
		raw, rerr := os.ReadFile(filepath.Join(c.clusterDir(), "cairnconfig"))
		require.NoError(t, rerr)
		require.NoError(t, os.WriteFile(filepath.Join(c.dir, "cairnconfig"), raw, 0o600))
	case err != nil:
		c.dumpLogs()
		require.NoError(t, err, "cluster create:\n%s", out)
	default:
		t.Logf("cluster %s created and healthy in %s", name, time.Since(start).Round(time.Millisecond))
	}
	c.refresh()
	c.admin = readIdentity(t, filepath.Join(c.dir, "cairnconfig"))
	c.curlTLS = c.admin.writePEMs(t, filepath.Join(c.dir, "pem"), "admin")
	return c
}

// lastLineWith is the last line of out containing s.
func lastLineWith(out, s string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// startByHandWith is startByHand with the given cluster config file: for a
// node cluster create did not make (a control plane added to the config),
// which needs a config naming it, secrets included. The node's log file is
// created if missing.
func startByHandWith(t testing.TB, configFile string, n nodeState, timings string) *handStarted {
	t.Helper()
	require.NoError(t, os.MkdirAll(n.StateDir, 0o700))
	log, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer log.Close()
	cmd := exec.Command(filepath.Join(bin, "cairnd"), "--config", configFile,
		"--name", n.Name, "--state-dir", n.StateDir, "--log-format", "text", "--timings", timings)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	h := &handStarted{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
	})
	return h
}

// requireDockerEtcd checks a docker cluster's etcd through the API (the
// published ports): every control plane reports a healthy voter of one
// etcd cluster of three, and `cairnctl etcd members` lists them as
// voters. Only the API port is published, so the put/get goes to the
// containers' addresses on the cluster's network when the host routes
// there (it does on Linux, with Docker's bridge), and is skipped, saying
// so, when it does not.
func (c *localCluster) requireDockerEtcd(t *testing.T, d dockerCluster) {
	t.Helper()
	var cps []string
	for _, n := range d.Nodes {
		if n.Role == "controlplane" {
			cps = append(cps, n.Name)
		}
	}
	require.Len(t, cps, 3)
	id := c.awaitEtcd(t, 120*time.Second, cps...)
	t.Logf("one etcd cluster %s with three voters", id)
	out, err := c.ctl("-n", cps[0], "etcd", "members")
	require.NoError(t, err, out)
	learner := map[string]string{} // NAME -> LEARNER column
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	nameCol, learnerCol := slices.Index(header, "NAME"), slices.Index(header, "LEARNER")
	require.True(t, nameCol >= 0 && learnerCol >= 0, out)
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) == len(header) {
			learner[f[nameCol]] = f[learnerCol]
		}
	}
	for _, n := range cps {
		assert.Equal(t, "no", learner[n], "%s is a voter in etcd's member list:\n%s", n, out)
	}
	assert.Len(t, learner, 3, out)

	var eps []string
	for _, n := range d.Nodes {
		if n.Role != "controlplane" {
			continue
		}
		addr := net.JoinHostPort(n.Address, "2379")
		conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Logf("the etcd client port %s is not reachable from the host (%v): checked through the API only", addr, err)
			return
		}
		_ = conn.Close()
		eps = append(eps, "https://"+addr)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: c.etcdTLS(t), DialTimeout: 3 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	ctx := ctxT(t, 10*time.Second)
	_, err = cli.Put(ctx, "/cairn-test/docker", "v1")
	require.NoError(t, err)
	got, err := cli.Get(ctx, "/cairn-test/docker")
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1)
	assert.Equal(t, "v1", string(got.Kvs[0].Value))
	ml, err := cli.MemberList(ctx)
	require.NoError(t, err)
	assert.Equal(t, id, fmt.Sprintf("%x", ml.Header.ClusterId))
	t.Logf("put/get through the containers' etcd client ports %v", eps)
}

// addedControlPlane is a control plane added to a running cluster's config
// and started by hand.
type addedControlPlane struct {
	node nodeState
	hand *handStarted
	// without is the config as it was before the node was added (redacted,
	// as the API serves it), to apply for removing it again.
	without string
}

// addControlPlane adds a control plane named name to the config — cp3's
// entry with the subnet's next free loopback address, .4 — applies it
// and starts the node's cairnd with the full cluster.yaml that names it.
func (c *localCluster) addControlPlane(t testing.TB, name, timings string) addedControlPlane {
	t.Helper()
	addr := fmt.Sprintf("127.0.%d.4", c.state.Subnet)
	add := func(m map[string]any) {
		nodes := m["nodes"].([]any)
		var cp3 map[string]any
		for _, n := range nodes {
			if n.(map[string]any)["name"] == "cp3" {
				cp3 = n.(map[string]any)
			}
		}
		require.NotNil(t, cp3)
		added := map[string]any{}
		for k, v := range cp3 {
			added[k] = v
		}
		added["name"], added["match"] = name, map[string]any{"name": name}
		for _, k := range []string{"apiAddress", "gossipAddress", "raftAddress"} {
			added[k] = regexp.MustCompile(`^127\.0\.\d+\.3:`).ReplaceAllString(cp3[k].(string), addr+":")
		}
		m["nodes"] = append(nodes, added)
	}
	full, err := os.ReadFile(filepath.Join(c.clusterDir(), "cluster.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	own := filepath.Join(dir, "cluster-"+name+".yaml") // secrets included: the node's own config
	require.NoError(t, os.WriteFile(own, []byte(mutate(t, string(full), add)), 0o600))
	cur := c.getConfig(t, c.node("cp1").APIAddress, false)
	apply := filepath.Join(dir, "apply-"+name+".yaml")
	require.NoError(t, os.WriteFile(apply, []byte(mutate(t, cur.Config, add)), 0o600))
	out, err := c.ctl("config", "apply", "-f", apply)
	require.NoError(t, err, out)
	n := nodeState{
		Name: name, Role: "controlplane", APIAddress: addr + ":6440",
		StateDir: filepath.Join(c.clusterDir(), "nodes", name),
		LogFile:  filepath.Join(c.clusterDir(), "logs", name+".log"),
	}
	c.state.Nodes = append(c.state.Nodes, n) // for awaitEtcd; a refresh drops it
	return addedControlPlane{node: n, hand: startByHandWith(t, own, n, timings), without: cur.Config}
}

// awaitPromoted polls a node's EtcdStatus until it is a healthy voter of
// members members, and returns when it was first seen a learner and a
// voter, measured from start.
func (c *localCluster) awaitPromoted(t testing.TB, a addedControlPlane, members int, start time.Time, timeout time.Duration) (learnerAt, voterAt time.Duration) {
	t.Helper()
	var last etcdStatus
	deadline := time.Now().Add(timeout)
	for {
		require.True(t, time.Now().Before(deadline), "%s was not promoted in %s; last status %+v", a.node.Name, timeout, last)
		select {
		case <-a.hand.done:
			t.Fatalf("%s's cairnd exited: see %s", a.node.Name, a.node.LogFile)
		case <-time.After(50 * time.Millisecond): // the poll interval
		}
		st, err := c.etcdStatusOf(a.node.APIAddress)
		if err != nil {
			continue
		}
		last = st
		switch {
		case st.Learner && learnerAt == 0:
			learnerAt = time.Since(start)
		case !st.Learner && st.Healthy && st.Members == members && st.MemberID != "":
			return learnerAt, time.Since(start)
		}
	}
}
