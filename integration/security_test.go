package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
)

// TestSecurity checks the node API's authentication and authorization from
// the outside, on one 3+1 cluster: who is refused and how, that roles hold
// however a call travels (forwarded to the leader, proxied with
// Cairn-Node), that generic tools work with the exported certificates, and
// that secrets never reach logs or CLI output.
func TestSecurity(t *testing.T) {
	c := createCluster(t, "sec", 3, 1)
	secrets := c.secrets(t)
	st, err := c.client(c.byRole("controlplane")[0].APIAddress).ConsensusStatus(ctxT(t, 5*time.Second),
		connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
	require.NoError(t, err)
	leader := c.node(st.Msg.LeaderName)
	var follower nodeState
	for _, n := range c.byRole("controlplane") {
		if n.Name != leader.Name {
			follower = n
		}
	}
	worker := c.byRole("worker")[0]
	reader := c.issue(t, "reader", config.APIRoleReader)
	operator := c.issue(t, "operator", config.APIRoleOperator)
	current := c.getConfig(t, leader.APIAddress, false).Config

	t.Run("no client certificate is unauthenticated", func(t *testing.T) {
		anon := newIdentity(t, secrets.CA.Crt, "", "")
		for _, n := range []nodeState{leader, worker} {
			_, err := anon.client(n.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(false, ""))
			requireCode(t, err, connect.CodeUnauthenticated, n.Name)
			_, err = anon.machine(n.APIAddress).Version(ctxT(t, 5*time.Second), connect.NewRequest(&machinev1.VersionRequest{}))
			requireCode(t, err, connect.CodeUnauthenticated, n.Name)
			_, err = anon.client(n.APIAddress).ApplyConfig(ctxT(t, 5*time.Second), applyRequest(current, true, ""))
			requireCode(t, err, connect.CodeUnauthenticated, n.Name)
		}
	})

	t.Run("a certificate from another CA fails the handshake", func(t *testing.T) {
		otherCA, err := config.NewCA(nil, "other", time.Now())
		require.NoError(t, err)
		pair, err := config.GenerateAdminClientCert(otherCA, "intruder", []string{config.APIRoleAdmin}, time.Hour)
		require.NoError(t, err)
		intruder := newIdentity(t, secrets.CA.Crt, pair.Crt, pair.Key)
		requireHandshakeRefused(t, intruder.presentingAlways(), leader.APIAddress)
		// A stock TLS client sends no certificate the node did not ask for.
		_, err = intruder.client(leader.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(false, ""))
		requireCode(t, err, connect.CodeUnauthenticated)
	})

	t.Run("an expired certificate fails the handshake", func(t *testing.T) {
		pair := expiredClientCert(t, secrets.CA)
		expired := newIdentity(t, secrets.CA.Crt, pair.Crt, pair.Key).presentingAlways()
		requireHandshakeRefused(t, expired, leader.APIAddress)
	})

	t.Run("idle connections and a slowloris client do not stop a node serving", func(t *testing.T) {
		target := worker
		cairnd := target.PID // the node's cairnd (its boot stage's child)
		before := rssKiB(t, cairnd)
		// 1,000 connections that finish the TLS handshake, without a
		// certificate (anyone who reaches the port may), speak HTTP/2's
		// preface and then nothing.
		anonTLS := &tls.Config{RootCAs: newIdentity(t, secrets.CA.Crt, "", "").tls.RootCAs, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13}
		var idle []*tls.Conn
		t.Cleanup(func() {
			for _, c := range idle {
				_ = c.Close()
			}
		})
		for range 1000 {
			conn, err := tls.Dial("tcp", target.APIAddress, anonTLS)
			require.NoError(t, err, "idle connection %d", len(idle)+1)
			_, err = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"))
			require.NoError(t, err)
			idle = append(idle, conn)
		}
		// A slowloris: HTTP/1.1 headers, a byte a second.
		slow, err := tls.Dial("tcp", target.APIAddress, &tls.Config{RootCAs: anonTLS.RootCAs, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS13})
		require.NoError(t, err)
		defer slow.Close()
		cut := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			for _, b := range []byte("POST /cairn.machine.v1.MachineService/Version HTTP/1.1\r\nHost: node\r\nX-Slow: " + strings.Repeat("z", 200)) {
				if _, err := slow.Write([]byte{b}); err != nil {
					break
				}
				time.Sleep(time.Second)
			}
			cut <- time.Since(start)
		}()

		// Everyone else is still served: the admin, many times over.
		for i := range 20 {
			_, err := c.admin.machine(target.APIAddress).Version(ctxT(t, 10*time.Second), connect.NewRequest(&machinev1.VersionRequest{}))
			require.NoError(t, err, "call %d with 1,000 idle connections open", i+1)
		}
		out, err := c.ctl("health", "--wait", "--wait-timeout", "60s")
		require.NoError(t, err, "the cluster stays healthy:\n%s", out)
		during := rssKiB(t, cairnd)
		t.Logf("cairnd on %s: %.1f MiB before, %.1f MiB with 1,000 idle connections (%.0f KiB each)", target.Name, before/1024, during/1024, (during-before)/1000)
		assert.Less(t, during-before, 256.0*1024, "memory stays bounded")
		select {
		case d := <-cut:
			t.Logf("the slowloris client was cut off after %s", d.Round(time.Second))
			assert.Less(t, d, 60*time.Second, "the header timeout (10 s) ended it, not the end of its headers")
		case <-time.After(90 * time.Second):
			t.Fatal("the slowloris connection is still open after 90 s")
		}
	})

	t.Run("a reader reads but cannot apply", func(t *testing.T) {
		res, err := reader.client(leader.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(false, ""))
		require.NoError(t, err)
		assert.Contains(t, res.Msg.Config, config.Redacted)
		_, err = reader.client(leader.APIAddress).Members(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.MembersRequest{}))
		require.NoError(t, err)
		_, err = reader.client(leader.APIAddress).ConsensusStatus(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
		require.NoError(t, err)
		_, err = reader.machine(worker.APIAddress).Version(ctxT(t, 5*time.Second), connect.NewRequest(&machinev1.VersionRequest{}))
		require.NoError(t, err)

		for _, dryRun := range []bool{true, false} {
			_, err = reader.client(leader.APIAddress).ApplyConfig(ctxT(t, 5*time.Second), applyRequest(current, dryRun, ""))
			requireCode(t, err, connect.CodePermissionDenied)
		}
		_, err = operator.client(leader.APIAddress).ApplyConfig(ctxT(t, 5*time.Second), applyRequest(current, true, ""))
		requireCode(t, err, connect.CodePermissionDenied, "an operator does not change the configuration either")

		// A client cannot state its own roles: the header is for nodes.
		req := applyRequest(current, true, "")
		req.Header().Set(headerCallerRoles, config.APIRoleAdmin)
		_, err = reader.client(leader.APIAddress).ApplyConfig(ctxT(t, 5*time.Second), req)
		requireCode(t, err, connect.CodePermissionDenied, "Cairn-Caller-Certificate from a client is ignored")
	})

	t.Run("only an admin issues client configs", func(t *testing.T) {
		req := &securityv1.GenerateClientConfigRequest{Roles: []string{config.APIRoleAdmin}, Ttl: durationpb.New(time.Hour), Name: "escalate"}
		for name, id := range map[string]identity{"operator": operator, "reader": reader} {
			_, err := id.security(leader.APIAddress).GenerateClientConfig(ctxT(t, 5*time.Second), connect.NewRequest(req))
			requireCode(t, err, connect.CodePermissionDenied, name)
		}
		res, err := c.admin.security(leader.APIAddress).GenerateClientConfig(ctxT(t, 5*time.Second), connect.NewRequest(req))
		require.NoError(t, err)
		assert.Equal(t, secrets.CA.Crt, string(res.Msg.Ca))
	})

	t.Run("only an admin reads secrets", func(t *testing.T) {
		res, err := c.client(leader.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(true, ""))
		require.NoError(t, err)
		assert.Contains(t, res.Msg.Config, secrets.JoinToken, "the admin sees the real join token")
		assert.NotContains(t, res.Msg.Config, config.Redacted)
		for name, id := range map[string]identity{"operator": operator, "reader": reader} {
			_, err := id.client(leader.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(true, ""))
			requireCode(t, err, connect.CodePermissionDenied, name)
			requireCode(t, watchErr(t, id, leader.APIAddress, true), connect.CodePermissionDenied, name+" watching")
		}
		require.NoError(t, watchErr(t, reader, leader.APIAddress, false), "a reader watches without secrets")
	})

	t.Run("roles survive forwarding and proxying", func(t *testing.T) {
		for _, p := range []struct{ name, addr, node string }{
			{"worker endpoint, forwarded to the leader", worker.APIAddress, ""},
			{"follower endpoint, forwarded to the leader", follower.APIAddress, ""},
			{"Cairn-Node proxy to the worker", leader.APIAddress, worker.Name},
			{"Cairn-Node proxy to a follower", worker.APIAddress, follower.Name},
		} {
			t.Run(p.name, func(t *testing.T) {
				res, err := reader.client(p.addr).GetConfig(ctxT(t, 5*time.Second), getRequest(false, p.node))
				require.NoError(t, err, "a reader reads")
				assert.Contains(t, res.Msg.Config, config.Redacted)
				_, err = reader.client(p.addr).GetConfig(ctxT(t, 5*time.Second), getRequest(true, p.node))
				requireCode(t, err, connect.CodePermissionDenied, "but no secrets")
				_, err = reader.client(p.addr).ApplyConfig(ctxT(t, 5*time.Second), applyRequest(current, true, p.node))
				requireCode(t, err, connect.CodePermissionDenied, "and does not apply")
				_, err = c.client(p.addr).ApplyConfig(ctxT(t, 5*time.Second), applyRequest(current, true, p.node))
				require.NoError(t, err, "the same path takes an admin's apply")
				res, err = c.client(p.addr).GetConfig(ctxT(t, 5*time.Second), getRequest(true, p.node))
				require.NoError(t, err)
				assert.Contains(t, res.Msg.Config, secrets.JoinToken, "and shows an admin the secrets")
			})
		}
	})

	t.Run("buf curl with the PEM files of config pem", func(t *testing.T) {
		dir := filepath.Join(c.dir, "exported")
		out, err := c.ctl("config", "pem", "--dir", dir)
		require.NoError(t, err, out)
		ca, crt, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem")
		url := "https://" + leader.APIAddress + "/cairn.cluster.v1.ClusterService/GetConfig"
		out, err = bufCurl("--cacert", ca, "--cert", crt, "--key", key, url)
		require.NoError(t, err, out)
		var res struct{ Config, Revision string }
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Contains(t, res.Config, "kind: ClusterConfig")
		assert.Contains(t, res.Config, config.Redacted)

		// Without a certificate even reflection is refused, so buf curl
		// cannot resolve the method; the Go client test above sees the code.
		out, err = bufCurl("--cacert", ca, url)
		require.Error(t, err, "no client certificate: %s", out)
		assert.NotContains(t, out, "kind: ClusterConfig")
		out, err = bufCurl("--cacert", ca, "--cert", crt, "--key", key, "--list-services", "https://"+worker.APIAddress)
		require.NoError(t, err, out)
		assert.Contains(t, out, "cairn.security.v1.SecurityService")
	})

	t.Run("secrets never appear in logs or output", func(t *testing.T) {
		needles := secretNeedles(secrets, reader.key, operator.key)
		get, err := c.ctl("config", "get")
		require.NoError(t, err, get)
		assertNoSecrets(t, "cairnctl config get", get, needles)

		full, err := c.client(leader.APIAddress).GetConfig(ctxT(t, 5*time.Second), getRequest(true, ""))
		require.NoError(t, err)
		bad := mutate(t, full.Msg.Config, func(m map[string]any) {
			section(m, "secrets")["gossipKey"] = secrets.GossipKey + "%%not-base64"
		})
		file := filepath.Join(c.dir, "bad-gossip-key.yaml")
		require.NoError(t, os.WriteFile(file, []byte(bad), 0o600))
		apply, err := c.ctl("config", "apply", "-f", file)
		require.Error(t, err, "a malformed gossip key is refused:\n%s", apply)
		assert.Contains(t, apply, "gossipKey")
		assertNoSecrets(t, "cairnctl config apply (refused)", apply, needles)

		logs, err := filepath.Glob(filepath.Join(c.clusterDir(), "logs", "*.log"))
		require.NoError(t, err)
		require.Len(t, logs, len(c.state.Nodes))
		for _, l := range logs {
			data, err := os.ReadFile(l)
			require.NoError(t, err)
			assertNoSecrets(t, filepath.Base(l), string(data), needles)
		}
		t.Logf("checked %d secret strings in %d logs and 2 command outputs", len(needles), len(logs))
	})
}

// watchErr opens WatchConfig on addr as id and returns the error of the
// first message, or nil if one arrived.
func watchErr(t testing.TB, id identity, addr string, includeSecrets bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := id.client(addr).WatchConfig(ctx, connect.NewRequest(&clusterv1.WatchConfigRequest{IncludeSecrets: includeSecrets}))
	if err != nil {
		return err
	}
	defer stream.Close()
	if stream.Receive() {
		return nil
	}
	if err := stream.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended without a message")
}
