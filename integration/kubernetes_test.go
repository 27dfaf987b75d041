package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kubeOnce builds the Kubernetes components into bin (beside cairnd, where
// process-mode nodes look for them) the first time a test needs them:
// scripts/build-kube.sh, as `make kube` runs it. With a warm Go build
// cache (the suite's `make kube` step) this only links.
var kubeOnce = sync.OnceValue(func() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "build-kube.sh"), bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build-kube.sh: %w\n%s", err, out)
	}
	return nil
})

// kubectl returns the kubectl link beside the built binaries, building
// them first.
func kubectl(t testing.TB) string {
	t.Helper()
	require.NoError(t, kubeOnce())
	return filepath.Join(bin, "kubectl")
}

// kubectlRun runs kubectl with the given kubeconfig and arguments.
func kubectlRun(t testing.TB, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kubectl(t), append([]string{"--kubeconfig", kubeconfig, "--request-timeout", "30s"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(kubeconfig))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// componentPID finds a Kubernetes component of a node: the process whose
// command line names the node's state directory and whose argv[0] is the
// component's link.
func componentPID(n nodeState, component string) int {
	for _, pid := range processesReferring(n.StateDir) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if filepath.Base(string(argv0)) == component {
			return pid
		}
	}
	return 0
}

// serviceRow is a service of `cairnctl services -o json`.
type serviceRow struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

// TestKubernetesProcessMode: a process-mode cluster runs a real Kubernetes
// control plane on its control planes (kube-apiserver against the local
// etcd member, kube-controller-manager and kube-scheduler with leader
// election), reachable with the kubeconfig `cairnctl kubeconfig` writes;
// a change of the apiserver's flags reaches every control plane one at a
// time, the others serving throughout; a SIGKILLed apiserver is restarted
// by the supervisor; and a config that would break Kubernetes is refused
// field by field, with nothing changed.
func TestKubernetesProcessMode(t *testing.T) {
	kubectl(t)
	c := createCluster(t, "k8s", 3, 1, "--kubernetes", "--wait-timeout", "6m")
	kcfg := filepath.Join(c.dir, "kubeconfig")
	out, err := c.ctl("kubeconfig", "--merge=false", kcfg)
	require.NoError(t, err, out)

	t.Run("ReadyAndWritable", func(t *testing.T) {
		out, err := kubectlRun(t, kcfg, "get", "--raw", "/readyz")
		require.NoError(t, err, out)
		assert.Equal(t, "ok", strings.TrimSpace(out))
		out, err = kubectlRun(t, kcfg, "create", "configmap", "cairn-test", "--from-literal=written=by-test")
		require.NoError(t, err, out)
		// Every apiserver serves it: they share the one etcd cluster.
		for _, n := range c.byRole("controlplane") {
			out, err := kubectlRun(t, kcfg, "--server", "https://"+hostOf(n.APIAddress)+":6443",
				"get", "configmap", "cairn-test", "-o", "jsonpath={.data.written}")
			require.NoError(t, err, "%s: %s", n.Name, out)
			assert.Equal(t, "by-test", out, n.Name)
		}
	})

	t.Run("LeaderElection", func(t *testing.T) {
		for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				out, err := kubectlRun(t, kcfg, "-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}")
				assert.NoError(ct, err, out)
				// HOST_UUID: the identity kube-controller-manager and
				// kube-scheduler take from the machine's hostname.
				assert.Regexp(ct, `^[^_\s]+_[0-9a-f-]{36}$`, out, "one instance holds the %s lease", lease)
			}, 2*time.Minute, time.Second)
		}
	})

	t.Run("ConfigChangeRollsOneControlPlaneAtATime", func(t *testing.T) {
		cps := c.byRole("controlplane")
		out, err := c.ctl("config", "patch", "--patch", `{"cluster":{"kubernetes":{"apiServer":{"extraArgs":{"audit-log-maxage":"5"}}}}}`)
		require.NoError(t, err, out)
		insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // anonymous /readyz; the certificate is not what is tested here
		}}
		ready := func(n nodeState) bool {
			resp, err := insecure.Get("https://" + hostOf(n.APIAddress) + ":6443/readyz")
			if err != nil {
				return false
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
		leastReady, deadline := len(cps), time.Now().Add(4*time.Minute)
		for {
			flagged, up := 0, 0
			for _, n := range cps {
				if cmdlineHas(componentPID(n, "kube-apiserver"), "--audit-log-maxage=5") {
					flagged++
				}
				if ready(n) {
					up++
				}
			}
			leastReady = min(leastReady, up)
			if flagged == len(cps) && up == len(cps) {
				break
			}
			require.True(t, time.Now().Before(deadline), "the change did not reach every apiserver: %d of %d run it", flagged, len(cps))
			time.Sleep(200 * time.Millisecond)
		}
		assert.GreaterOrEqual(t, leastReady, len(cps)-1, "apiservers restarted one at a time: the others served throughout")
		out, err = c.ctl("get", "rollouts", "kubernetes-control-plane", "-o", "yaml")
		require.NoError(t, err, out)
		for _, n := range cps {
			assert.Contains(t, out, n.Name, "every control plane has its grant")
		}
	})

	t.Run("KilledAPIServerIsRestarted", func(t *testing.T) {
		n := c.node("cp2")
		pid := componentPID(n, "kube-apiserver")
		require.NotZero(t, pid, "cp2 runs kube-apiserver")
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			now := componentPID(n, "kube-apiserver")
			assert.NotZero(ct, now)
			assert.NotEqual(ct, pid, now, "a new kube-apiserver")
		}, time.Minute, 200*time.Millisecond)
		out, err := c.ctl("health", "--wait", "--wait-timeout", "3m")
		require.NoError(t, err, out)
		out, err = kubectlRun(t, kcfg, "--server", "https://"+hostOf(n.APIAddress)+":6443", "get", "--raw", "/readyz")
		require.NoError(t, err, out)
		assert.Equal(t, "ok", strings.TrimSpace(out))
		out, err = c.ctl("services", "-n", "cp2", "-o", "json")
		require.NoError(t, err, out)
		var svcs struct {
			Services []serviceRow `json:"services"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &svcs), out)
		i := slices.IndexFunc(svcs.Services, func(s serviceRow) bool { return s.Name == "kube-apiserver" })
		require.GreaterOrEqual(t, i, 0, out)
		assert.Equal(t, "SERVICE_STATE_RUNNING", svcs.Services[i].State)
		assert.GreaterOrEqual(t, svcs.Services[i].Restarts, 1, "the supervisor restarted it")
	})

	t.Run("KubePrismSurvivesAControlPlane", func(t *testing.T) {
		// The worker's own API endpoint (its address, port 7445, in
		// process mode); TLS passes through to an apiserver, whose
		// certificate names localhost.
		prism := "https://" + hostOf(c.node("worker1").APIAddress) + ":7445"
		readyz := func() (string, error) {
			return kubectlRun(t, kcfg, "--server", prism, "--tls-server-name", "localhost", "get", "--raw", "/readyz")
		}
		out, err := readyz()
		require.NoError(t, err, out)
		assert.Equal(t, "ok", strings.TrimSpace(out))
		out, err = c.ctl("cluster", "stop", "cp1", "--name", c.name)
		require.NoError(t, err, out)
		t.Cleanup(func() {
			out, err := c.ctl("cluster", "start", "cp1", "--wait", "--name", c.name)
			require.NoError(t, err, out)
		})
		for i := range 10 {
			out, err := readyz()
			require.NoError(t, err, "request %d with cp1 down: %s", i, out)
			assert.Equal(t, "ok", strings.TrimSpace(out))
		}
		out, err = c.ctl("cluster", "start", "cp1", "--wait", "--name", c.name)
		require.NoError(t, err, out)
		out, err = c.ctl("health", "--wait", "--wait-timeout", "3m")
		require.NoError(t, err, out)
	})

	t.Run("HealthSaysNodesNeedAnotherProvisioner", func(t *testing.T) {
		out, err := c.ctl("health")
		require.NoError(t, err, out)
		assert.Contains(t, out, "kubernetes")
		assert.Contains(t, out, "Kubernetes nodes need the docker provisioner")
	})

	t.Run("BadKubernetesConfigIsRefused", func(t *testing.T) {
		before, err := c.ctl("config", "get", "-o", "json")
		require.NoError(t, err, before)
		for _, tc := range []struct{ patch, field string }{
			{`{"cluster":{"network":{"podCIDR":"10.244.0.0/33"}}}`, "cluster.network.podCIDR"},
			{`{"cluster":{"network":{"serviceCIDR":"127.0.0.0/8"}}}`, "cluster.network.serviceCIDR"},
			{`{"cluster":{"kubernetes":{"apiServer":{"extraArgs":{"no-such-flag":"1"}}}}}`, "cluster.kubernetes.apiServer.extraArgs"},
			{`{"cluster":{"kubernetes":{"apiServer":{"extraArgs":{"etcd-servers":"https://evil:2379"}}}}}`, "cluster.kubernetes.apiServer.extraArgs"},
		} {
			out, err := c.ctl("config", "patch", "--patch", tc.patch)
			require.Error(t, err, "%s was accepted:\n%s", tc.patch, out)
			assert.Contains(t, out, tc.field, tc.patch)
		}
		after, err := c.ctl("config", "get", "-o", "json")
		require.NoError(t, err, after)
		assert.Equal(t, before, after, "nothing changed")
		out, err := kubectlRun(t, kcfg, "get", "--raw", "/readyz")
		require.NoError(t, err, out)
	})
}

// TestKubeFlagsTableIsFresh: the flag table config validation checks
// extraArgs against is what the built components have (`make kube-flags`
// regenerates it).
func TestKubeFlagsTableIsFresh(t *testing.T) {
	kubectl(t)
	out, err := exec.Command(filepath.Join(bin, "kube"), "flags").Output()
	require.NoError(t, err)
	root, err := repoRoot()
	require.NoError(t, err)
	committed, err := os.ReadFile(filepath.Join(root, "node", "cluster", "config", "kubeflags.json"))
	require.NoError(t, err)
	assert.Equal(t, string(committed), string(out), "node/cluster/config/kubeflags.json is stale: run make kube-flags")
}
