package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

const versionVar = "github.com/cairn-project/cairn/internal/version.Version"

// buildRelease links a release of pkg as version into the test's bin
// directory, beside the etcd a process-mode node runs (as 'make bundle'
// does); extra are more -X settings.
func buildRelease(t testing.TB, name, pkg, version string, extra ...string) string {
	t.Helper()
	return goBuildRelease(t, filepath.Join(bin, name), pkg, version, nil, extra...)
}

// buildStaticRelease links a static cairnd release as 'make bundle' does
// (CGO_ENABLED=0, without -trimpath, which would drop the version from the
// build information): a bundle for container nodes.
func buildStaticRelease(t testing.TB, version string) string {
	t.Helper()
	return goBuildRelease(t, filepath.Join(t.TempDir(), "cairnd-"+version), "./cmd/cairnd", version, []string{"CGO_ENABLED=0"})
}

func goBuildRelease(t testing.TB, out, pkg, version string, env []string, extra ...string) string {
	t.Helper()
	root, err := repoRoot()
	require.NoError(t, err)
	ldflags := append([]string{"-X", versionVar + "=" + version}, extra...)
	cmd := exec.Command("go", "build", "-ldflags", strings.Join(ldflags, " "), "-o", out, pkg)
	cmd.Dir, cmd.Env = root, append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", out, b)
	return out
}

// upgradeClients reach every node of a cluster as the admin, one
// connection each (the sampler calls them ten times a second).
type upgradeClients struct {
	machine map[string]machinev1connect.MachineServiceClient
	cluster map[string]clusterv1connect.ClusterServiceClient
	upgrade upgradev1connect.UpgradeServiceClient
	roles   map[string]string
}

func newUpgradeClients(c *localCluster) *upgradeClients {
	u := &upgradeClients{machine: map[string]machinev1connect.MachineServiceClient{},
		cluster: map[string]clusterv1connect.ClusterServiceClient{}, roles: map[string]string{}}
	for _, n := range c.state.Nodes {
		hc := c.admin.httpClient()
		u.machine[n.Name] = machinev1connect.NewMachineServiceClient(hc, "https://"+n.APIAddress, connect.WithGRPC())
		u.cluster[n.Name] = clusterv1connect.NewClusterServiceClient(hc, "https://"+n.APIAddress, connect.WithGRPC())
		u.roles[n.Name] = n.Role
	}
	u.upgrade = upgradev1connect.NewUpgradeServiceClient(c.admin.httpClient(), "https://"+c.byRole("controlplane")[0].APIAddress, connect.WithGRPC())
	return u
}

// versions returns each node's version and slot as its API reports them
// ("" for a node that does not answer).
func (u *upgradeClients) versions(t testing.TB) map[string]string {
	out := map[string]string{}
	for name, m := range u.machine {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := m.Version(ctx, connect.NewRequest(&machinev1.VersionRequest{}))
		cancel()
		if err == nil {
			out[name] = res.Msg.GetVersion() + "/" + res.Msg.GetSlot()
		}
	}
	return out
}

func (u *upgradeClients) status(t testing.TB) *upgradev1.Plan {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := u.upgrade.Status(ctx, connect.NewRequest(&upgradev1.StatusRequest{}))
	if err != nil {
		return nil
	}
	return res.Msg.GetPlan()
}

// waitPhase waits for the plan to reach phase and returns it.
func (u *upgradeClients) waitPhase(t *testing.T, id, phase string, within time.Duration) *upgradev1.Plan {
	t.Helper()
	var last *upgradev1.Plan
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p := u.status(t); p != nil && p.GetId() == id {
			last = p
			if p.GetPhase() == phase {
				return p
			}
			if phase == "done" && p.GetPhase() != "running" {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.FailNow(t, "plan did not reach "+phase, "last seen: %s", planSummary(last))
	return nil
}

func planSummary(p *upgradev1.Plan) string {
	if p == nil {
		return "no plan"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s reason=%q waiting=%q", p.GetId(), p.GetPhase(), p.GetReason(), p.GetWaiting())
	for _, s := range p.GetSteps() {
		fmt.Fprintf(&b, "\n  %s %s attempt=%d %s", s.GetNode(), s.GetState(), s.GetAttempt(), s.GetReason())
	}
	return b.String()
}

// startUpgrade runs `cairnctl upgrade start ARGS -o json` and returns the
// plan's ID.
func (c *localCluster) startUpgrade(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.ctl(append(append([]string{"upgrade", "start"}, args...), "-o", "json")...)
	require.NoError(t, err, out)
	var started struct {
		Plan struct {
			ID string `json:"id"`
		} `json:"plan"`
	}
	i := strings.Index(out, "{") // after the upload's line
	require.GreaterOrEqual(t, i, 0, out)
	require.NoError(t, json.Unmarshal([]byte(out[i:]), &started), out)
	require.NotEmpty(t, started.Plan.ID, out)
	return started.Plan.ID
}

// sample is what the sampler saw at one instant: the nodes whose API did
// not answer, and the control plane that said it leads.
type sample struct {
	at     time.Time
	down   []string
	leader string
}

// sampleCluster asks every node, every 100 ms until stop, whether it is up
// (a control plane: its own Raft status; a worker: its version), each
// bounded by 500 ms.
func (u *upgradeClients) sampleCluster(stop <-chan struct{}) []sample {
	var out []sample
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s := sample{at: time.Now()}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name := range u.machine {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				var err error
				leads := false
				if u.roles[name] == "controlplane" {
					var res *connect.Response[clusterv1.ConsensusStatusResponse]
					res, err = u.cluster[name].ConsensusStatus(ctx, connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
					leads = err == nil && res.Msg.GetState() == "Leader"
				} else {
					_, err = u.machine[name].Version(ctx, connect.NewRequest(&machinev1.VersionRequest{}))
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					s.down = append(s.down, name)
				}
				if leads {
					s.leader = name
				}
			})
		}
		wg.Wait()
		out = append(out, s)
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
	}
}

// casWriter writes the config in a chain of compare-and-sets until stop,
// through every node in turn, each write retried with its request ID until
// acknowledged: the last acknowledged write implies all before it.
type casWriter struct {
	c       *localCluster
	via     []nodeState
	acked   atomic.Int64
	version string // of the last acknowledged write
	rev     uint64
	errs    []string
}

func (w *casWriter) run(t *testing.T, stop <-chan struct{}) {
	cur := w.c.getConfig(t, w.via[0].APIAddress, false)
	rev, doc := cur.Revision, cur.Config
	for n := 1; ; n++ {
		version := fmt.Sprintf("1.37.%d", 1000+n)
		next := withKubernetesVersion(t, doc, version)
		req := &clusterv1.ApplyConfigRequest{Config: next, ExpectedRevision: rev, RequestId: fmt.Sprintf("upgrade-write-%d", n)}
		for attempt := 0; ; attempt++ {
			select {
			case <-stop:
				return
			default:
			}
			via := w.via[(n+attempt)%len(w.via)]
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := w.c.client(via.APIAddress).ApplyConfig(ctx, connect.NewRequest(req))
			cancel()
			if err == nil {
				rev, doc = res.Msg.Revision, next
				w.rev, w.version = rev, version
				w.acked.Add(1)
				break
			}
			if connect.CodeOf(err) == connect.CodeAborted {
				w.errs = append(w.errs, fmt.Sprintf("write %d conflicted with itself: %v", n, err))
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestRollingUpgrade upgrades a 3+2 process-mode cluster through the Raft
// leader's plan: refusals of bad input first (nothing starts); v1 → v2
// under continuous CAS writes, sampled every 100 ms (never more than one
// node down, the Raft group never without a majority, no node taken down
// while it leads), no acknowledged write lost, every node on v2 from
// slot B, each granted once; two bad v3 releases (one that exits at start,
// one that never becomes healthy) fall back on the first node by
// themselves and pause the plan, touching no other node; a good v3 with
// the Raft leader SIGKILLed mid-plan finishes under the new leader, no
// node upgraded twice; a rollback then returns every node to v2 on its
// previous slot.
func TestRollingUpgrade(t *testing.T) {
	v1 := buildRelease(t, "cairnd-v1.0.0", "./cmd/cairnd", "v1.0.0")
	v2 := buildRelease(t, "cairnd-v2.0.0", "./cmd/cairnd", "v2.0.0")
	c := createCluster(t, "upgrade", 3, 2, "--timings", "fast", "--cairnd", v1)
	u := newUpgradeClients(c)
	for name, v := range u.versions(t) {
		require.Equal(t, "v1.0.0/A", v, "%s before the upgrade", name)
	}
	all := c.state.Nodes

	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow() // each step starts from where the one before left the cluster
		}
	}
	step("BadInputIsRefusedAndNothingStarts", func(t *testing.T) {
		text := filepath.Join(t.TempDir(), "bundle.sh")
		require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho not cairnd\n"), 0o755))
		out, err := c.ctl("upgrade", "start", text)
		require.Error(t, err, out)
		assert.Contains(t, out, "not an ELF executable")
		out, err = c.ctl("upgrade", "start", filepath.Join(bin, "cairnd"))
		require.Error(t, err, out)
		assert.Contains(t, out, "built without a release version")
		out, err = c.ctl("upgrade", "start", v2, "--max-unavailable", "2")
		require.Error(t, err, out)
		assert.Contains(t, out, "would take all 2 workers down")
		out, err = c.ctl("upgrade", "status")
		require.Error(t, err, "nothing started:\n%s", out)
		assert.Contains(t, out, "no upgrade plan")

		out, err = c.ctl("upgrade", "start", v2, "--dry-run")
		require.NoError(t, err, out)
		assert.Contains(t, out, "dry run: nothing started")
		lines := strings.Split(out, "\n")
		var order []string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) >= 5 && (f[2] == "worker" || f[2] == "controlplane") {
				order = append(order, f[1])
			}
		}
		require.Len(t, order, 5, out)
		assert.Equal(t, []string{"worker1", "worker2"}, order[:2], "workers first")
		for _, l := range lines {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "5" {
				assert.Contains(t, l, "(Raft leader: last, after handing leadership over)", "the Raft leader is last")
			}
		}
	})

	step("V1ToV2UnderWrites", func(t *testing.T) {
		stop := make(chan struct{})
		w := &casWriter{c: c, via: all}
		var wg sync.WaitGroup
		var samples []sample
		wg.Go(func() { w.run(t, stop) })
		wg.Go(func() { samples = u.sampleCluster(stop) })
		stopped := false
		halt := func() {
			if !stopped {
				close(stop)
				wg.Wait()
				stopped = true
			}
		}
		defer halt()
		time.Sleep(2 * time.Second) // writes flowing before the first node goes
		start := time.Now()
		id := c.startUpgrade(t, v2, "--max-unavailable", "1")
		out, err := c.ctl("upgrade", "start", v2)
		require.Error(t, err, "a second start while one runs:\n%s", out)
		assert.Contains(t, out, id, "the refusal names the running plan")

		p := u.waitPhase(t, id, "done", 5*time.Minute)
		took := time.Since(start)
		time.Sleep(time.Second)
		halt()
		t.Logf("v1 → v2 of 3+2 in %s; %d writes acknowledged meanwhile; %d samples", took.Round(100*time.Millisecond), w.acked.Load(), len(samples))
		require.Empty(t, w.errs)
		require.Greater(t, w.acked.Load(), int64(10), "writes went on during the upgrade")

		for _, s := range p.GetSteps() {
			assert.Equal(t, "done", s.GetState(), s.GetNode())
			assert.Equal(t, int32(1), s.GetAttempt(), "%s granted once", s.GetNode())
		}
		for name, v := range u.versions(t) {
			assert.Equal(t, "v2.0.0/"+boot.SlotB, v, "%s after the upgrade", name)
		}
		// No acknowledged write lost: the config holds the last one.
		cur := c.getConfig(t, all[0].APIAddress, false)
		assert.GreaterOrEqual(t, cur.Revision, w.rev)
		assert.Equal(t, w.version, kubernetesVersion(t, cur.Config), "the last acknowledged write is there")

		maxDown, downCPs := 0, map[string]bool{}
		var prev sample
		for _, s := range samples {
			maxDown = max(maxDown, len(s.down))
			assert.LessOrEqual(t, len(s.down), 1, "at %s down: %v", s.at.Format(time.StampMilli), s.down)
			cps := 0
			for _, n := range s.down {
				if u.roles[n] == "controlplane" {
					cps++
					if !downCPs[n] && prev.leader == n {
						t.Errorf("%s was taken down while it led (sample at %s)", n, s.at.Format(time.StampMilli))
					}
					downCPs[n] = true
				}
			}
			assert.Less(t, cps, 2, "the Raft group kept its majority at %s: down %v", s.at.Format(time.StampMilli), s.down)
			if s.leader != "" {
				prev = s
			}
		}
		t.Logf("at most %d node(s) down in any sample; control planes seen down: %d", maxDown, len(downCPs))
		assert.Len(t, downCPs, 3, "every control plane restarted (seen down)")

		out, err = c.ctl("upgrade", "start", v1)
		require.Error(t, err, "a downgrade:\n%s", out)
		assert.Contains(t, out, "older than v2.0.0")
		assert.Contains(t, out, "--allow-downgrade")
	})

	// A bad release is tried on the first node only: it falls back to its
	// slot B (v2) by itself; the plan pauses with the reason; nobody else
	// changes.
	badRelease := func(t *testing.T, mode string, extra ...string) *upgradev1.Plan {
		rel := buildRelease(t, "cairnd-v3.0.0-"+mode, "./integration/testdata/badrelease", "v3.0.0", "-X", "main.mode="+mode)
		id := c.startUpgrade(t, append([]string{rel}, extra...)...)
		p := u.waitPhase(t, id, "paused", 3*time.Minute)
		t.Logf("paused: %s", planSummary(p))
		first := p.GetSteps()[0]
		assert.Equal(t, "worker1", first.GetNode())
		assert.Equal(t, "failed", first.GetState())
		assert.Contains(t, p.GetReason(), "worker1: ")
		for _, s := range p.GetSteps()[1:] {
			assert.Equal(t, "pending", s.GetState(), "%s untouched", s.GetNode())
			assert.Zero(t, s.GetAttempt(), "%s never granted", s.GetNode())
		}
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			for name, v := range u.versions(t) {
				assert.Equal(ct, "v2.0.0/"+boot.SlotB, v, name)
			}
			assert.Len(ct, u.versions(t), 5)
		}, 2*time.Minute, time.Second, "worker1 back on v2 by itself, the others never left it")
		out, err := c.ctl("health", "--wait", "--wait-timeout", "60s")
		require.NoError(t, err, "healthy after the fallback:\n%s", out)
		out, err = c.ctl("upgrade", "abort", "--reason", "bad release "+mode)
		require.NoError(t, err, out)
		assert.Contains(t, out, "phase:   aborted: bad release "+mode)
		return p
	}

	step("BadV3ThatExitsFallsBack", func(t *testing.T) {
		p := badRelease(t, "exit")
		assert.Contains(t, p.GetReason(), "fell back to its previous slot")
		assert.Contains(t, p.GetReason(), "exited with code 1", "the boot stage's reason")
	})

	step("BadV3ThatNeverBecomesHealthyFallsBack", func(t *testing.T) {
		// It starts and serves nothing: the plan gives up when it is not
		// back within the reboot timeout, and the boot stage stops it and
		// falls back when it is not confirmed within reboot+verify.
		badRelease(t, "hang", "--reboot-timeout", "15s", "--verify-timeout", "15s")
		out, err := c.ctl("upgrade", "rollback")
		require.Error(t, err, "no node runs v3.0.0:\n%s", out)
		assert.Contains(t, out, "nothing to roll back")
	})

	step("LeaderKilledMidPlan", func(t *testing.T) {
		v3 := buildRelease(t, "cairnd-v3.0.0", "./cmd/cairnd", "v3.0.0")
		id := c.startUpgrade(t, v3)
		// Once the first worker is done, SIGKILL the leader's cairnd.
		var leader string
		require.Eventually(t, func() bool {
			p := u.status(t)
			if p == nil || p.GetId() != id {
				return false
			}
			for _, s := range p.GetSteps() {
				if s.GetNode() == "worker1" && s.GetState() == "done" {
					leader = p.GetLeader()
					return true
				}
			}
			return false
		}, 2*time.Minute, 200*time.Millisecond, "worker1 upgraded")
		c.refresh()
		pid := c.node(leader).PID
		require.NotZero(t, pid)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		t.Logf("SIGKILLed the Raft leader %s (cairnd pid %d) mid-plan", leader, pid)
		p := u.waitPhase(t, id, "done", 5*time.Minute)
		for _, s := range p.GetSteps() {
			assert.Equal(t, int32(1), s.GetAttempt(), "%s granted once, across the failover", s.GetNode())
		}
		for name, v := range u.versions(t) {
			assert.Equal(t, "v3.0.0/"+boot.SlotA, v, name)
		}
	})

	step("RollbackReturnsEveryNodeToItsPreviousSlot", func(t *testing.T) {
		out, err := c.ctl("upgrade", "rollback", "--wait", "--wait-timeout", "5m")
		require.NoError(t, err, out)
		p := u.status(t)
		require.NotNil(t, p)
		assert.True(t, p.GetRollback())
		assert.Len(t, p.GetSteps(), 5)
		for _, s := range p.GetSteps() {
			assert.Equal(t, "done", s.GetState(), s.GetNode())
			assert.Equal(t, "v2.0.0", s.GetTarget(), s.GetNode())
		}
		for name, v := range u.versions(t) {
			assert.Equal(t, "v2.0.0/"+boot.SlotB, v, "%s back on its previous slot", name)
		}
	})
}
