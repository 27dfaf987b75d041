package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// kubeNodeFiles builds what a Kubernetes node ships (the container image
// and the VM's initramfs alike) beside the static cairnd at cairnd: the kube binary (a link to the one the
// Kubernetes tests build), the container runtime and CNI plugins
// (scripts/build-containerd.sh), and the workload images archive
// (rootfs/cmd/mkimages, with the echo image tagged version). It returns
// the archive's path.
func kubeNodeFiles(t testing.TB, cairnd, version string) string {
	t.Helper()
	kubectl(t) // builds kube
	root, err := repoRoot()
	require.NoError(t, err)
	dir := filepath.Dir(cairnd)
	require.NoError(t, os.Symlink(filepath.Join(bin, "kube"), filepath.Join(dir, "kube")))
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	}
	run(filepath.Join(root, "scripts", "build-containerd.sh"), dir)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", filepath.Join(dir, "coredns"), ".")
	cmd.Dir, cmd.Env = filepath.Join(root, "tools", "coredns"), append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build coredns (tools/coredns): %s", out)
	images := filepath.Join(dir, "images")
	run("go", "run", "./rootfs/cmd/mkimages", "--out", images, "--kube", filepath.Join(dir, "kube"), "--version", version,
		"--nft", filepath.Join(dir, "nft-root"), "--coredns", filepath.Join(dir, "coredns"))
	return filepath.Join(images, "all.tar")
}

// kubeNode is the part of a Kubernetes Node the tests read.
type kubeNode struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR       string `json:"podCIDR"`
		Unschedulable bool   `json:"unschedulable"`
	} `json:"spec"`
	Status struct {
		NodeInfo struct {
			OSImage string `json:"osImage"`
		} `json:"nodeInfo"`
		Capacity   map[string]string `json:"capacity"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (n kubeNode) ready() bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// kubeNodes lists the cluster's Nodes.
func kubeNodes(t testing.TB, kcfg string) ([]kubeNode, error) {
	out, err := kubectlRun(t, kcfg, "get", "nodes", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	var list struct {
		Items []kubeNode `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// pod is the part of a Pod the tests read.
type pod struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
		PodIP string `json:"podIP"`
	} `json:"status"`
}

func pods(t testing.TB, kcfg string, args ...string) ([]pod, error) {
	out, err := kubectlRun(t, kcfg, append([]string{"get", "pods", "-o", "json"}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	var list struct {
		Items []pod `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// echoDeployment is a Deployment of the test application, two replicas on
// two nodes, never pulled.
const echoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 2
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: echo}
      containers:
      - name: echo
        image: cairn.local/echo:%s
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 2
`

// TestKubernetesDockerMode: a cluster of node containers runs Kubernetes —
// every node's kubelet (containerd, the image's workload images imported
// at boot, credentials from KubeletCertificate) registers Ready with a pod
// CIDR; the test application runs as a Deployment whose pods on two nodes
// reach each other by pod IP over Cairn's routes; a kubelet settings
// change reaches every node one at a time while all stay Ready; a killed
// kubelet and a killed containerd are restarted and the pods recover.
func TestKubernetesDockerMode(t *testing.T) {
	requireDocker(t)
	name := fmt.Sprintf("k8sd%d", os.Getpid())
	version := fmt.Sprintf("it-%d-%d", os.Getpid(), time.Now().Unix())
	tag := "cairn/cairnd:" + version + "-k8s"
	cairnd := buildStaticCairnd(t, version)
	archive := kubeNodeFiles(t, cairnd, version)
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "--force", tag).Run() })

	start := time.Now()
	c := createCluster(t, name, 3, 1, "--provisioner", "docker", "--cairnd", cairnd, "--image", tag, "--images", archive,
		"--timings", "fast", "--kubernetes", "--wait-timeout", "10m")
	t.Logf("docker cluster 3+1 with Kubernetes: created and healthy (every node Ready) in %s", time.Since(start).Round(time.Second))
	kcfg := filepath.Join(c.dir, "kubeconfig")
	out, err := c.ctl("kubeconfig", "--merge=false", kcfg)
	require.NoError(t, err, out)

	t.Run("EveryNodeReadyWithAPodCIDR", func(t *testing.T) {
		nodes, err := kubeNodes(t, kcfg)
		require.NoError(t, err)
		var names []string
		cidrs := map[string]bool{}
		for _, n := range nodes {
			names = append(names, n.Metadata.Name)
			assert.True(t, n.ready(), "%s is Ready", n.Metadata.Name)
			assert.NotEmpty(t, n.Spec.PodCIDR, "%s has a pod CIDR", n.Metadata.Name)
			cidrs[n.Spec.PodCIDR] = true
		}
		slices.Sort(names)
		assert.Equal(t, []string{"cp1", "cp2", "cp3", "worker1"}, names)
		assert.Len(t, cidrs, 4, "one pod CIDR each")
		out, err := c.ctl("get", "members")
		require.NoError(t, err, out)
		assert.Regexp(t, `(?m)^worker1\s.*\bready\b`, out, "Members shows the worker's kubelet ready:\n%s", out)
	})

	t.Run("ControlPlaneRunsAsStaticPods", func(t *testing.T) {
		staticPodsRunning(t, kcfg, []string{"cp1", "cp2", "cp3"}, 3*time.Minute)
	})

	var echoPods []pod
	t.Run("DeploymentPodsReachEachOtherAcrossNodes", func(t *testing.T) {
		echoPods = deployEcho(t, kcfg, c.dir, version, true, 4*time.Minute)
		podsReachEachOther(t, kcfg, echoPods)
	})

	t.Run("ClusterIPServiceAndItsDNSName", func(t *testing.T) {
		serviceReachesEveryPod(t, kcfg, echoPods, 4*time.Minute)
	})

	t.Run("AnImportedImageRuns", func(t *testing.T) {
		// A second archive, as a user would bring one: the test
		// application under a tag no node has.
		tag := version + "-imported"
		dir := filepath.Join(c.dir, "imported")
		root, err := repoRoot()
		require.NoError(t, err)
		cmd := exec.Command("go", "run", "./rootfs/cmd/mkimages", "--out", dir, "--version", tag)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		ctlOut, err := c.ctl("image", "import", filepath.Join(dir, "all.tar"), "-n", "cp1,cp2,cp3,worker1")
		require.NoError(t, err, ctlOut)
		ctlOut, err = c.ctl("image", "list", "-n", "worker1")
		require.NoError(t, err, ctlOut)
		assert.Contains(t, ctlOut, "cairn.local/echo:"+tag)
		out2, err := kubectlRun(t, kcfg, "run", "imported", "--image", "cairn.local/echo:"+tag, "--image-pull-policy", "Never")
		require.NoError(t, err, out2)
		out2, err = kubectlRun(t, kcfg, "wait", "--for=condition=Ready", "pod/imported", "--timeout", "3m")
		require.NoError(t, err, out2)
	})

	t.Run("KubeletSettingsReachEveryNodeOneAtATime", func(t *testing.T) {
		out, err := c.ctl("config", "patch", "--patch", `{"cluster":{"kubernetes":{"kubelet":{"maxPods":42}}}}`)
		require.NoError(t, err, out)
		leastReady, deadline := 4, time.Now().Add(6*time.Minute)
		for {
			nodes, err := kubeNodes(t, kcfg)
			if err == nil && len(nodes) == 4 {
				changed, ready := 0, 0
				for _, n := range nodes {
					if n.Status.Capacity["pods"] == "42" {
						changed++
					}
					if n.ready() {
						ready++
					}
				}
				leastReady = min(leastReady, ready)
				if changed == 4 {
					break
				}
			}
			require.True(t, time.Now().Before(deadline), "maxPods did not reach every node: %v %v", nodes, err)
			time.Sleep(500 * time.Millisecond)
		}
		assert.Equal(t, 4, leastReady, "every node stayed Ready")
		out, err = c.ctl("get", "rollouts", "kubelet", "-o", "yaml")
		require.NoError(t, err, out)
		for _, n := range []string{"cp1", "cp2", "cp3", "worker1"} {
			assert.Contains(t, out, n, "every node has its grant, one after the other")
		}
	})

	t.Run("KilledAPIServerStaticPodIsRestarted", func(t *testing.T) {
		restarts := func() int {
			out, err := c.ctl("get", "kubepodstatus", "kube-apiserver", "-n", "cp2", "-o", "json")
			require.NoError(t, err, out)
			var st struct {
				Resources []struct {
					Spec struct {
						Restarts int    `json:"restarts"`
						Health   string `json:"health"`
					} `json:"spec"`
				} `json:"resources"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &st), out)
			require.Len(t, st.Resources, 1, out)
			return st.Resources[0].Spec.Restarts
		}
		before := restarts()
		machine := fmt.Sprintf("cairn-%s-cp2", name)
		// Right after the kubelet settings rollout the static pod may be
		// between two runs: wait for one.
		var pid int
		require.Eventually(t, func() bool {
			pid = dockerProcess(t, machine, "kube-apiserver")
			return pid != 0
		}, 2*time.Minute, time.Second, "cp2 runs kube-apiserver")
		require.NoError(t, exec.Command("kill", "-KILL", fmt.Sprint(pid)).Run())
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			now := dockerProcess(t, machine, "kube-apiserver")
			assert.NotZero(ct, now)
			assert.NotEqual(ct, pid, now, "kubelet started a new kube-apiserver")
		}, 2*time.Minute, time.Second)
		out, err := c.ctl("health", "--wait", "--wait-timeout", "4m")
		require.NoError(t, err, out)
		assert.Greater(t, restarts(), before, "cairnd saw the restart")
	})

	t.Run("KilledKubeletAndContainerdAreRestarted", func(t *testing.T) {
		node := echoPods[0].Spec.NodeName
		for _, svc := range []string{"kubelet", "containerd"} {
			out, err := c.ctl("services", "-n", node, "-o", "json")
			require.NoError(t, err, out)
			var before struct {
				Services []serviceRow `json:"services"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &before), out)
			i := slices.IndexFunc(before.Services, func(s serviceRow) bool { return s.Name == svc })
			require.GreaterOrEqual(t, i, 0, out)
			machine := fmt.Sprintf("cairn-%s-%s", name, node)
			// The service's process inside the node container, found
			// from the host by its command line.
			pid := dockerProcess(t, machine, "/usr/bin/"+svc)
			require.NotZero(t, pid, "%s runs %s", node, svc)
			require.NoError(t, exec.Command("kill", "-KILL", fmt.Sprint(pid)).Run())
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				out, err := c.ctl("services", "-n", node, "-o", "json")
				if !assert.NoError(ct, err, out) {
					return
				}
				var after struct {
					Services []serviceRow `json:"services"`
				}
				if !assert.NoError(ct, json.Unmarshal([]byte(out), &after), out) {
					return
				}
				j := slices.IndexFunc(after.Services, func(s serviceRow) bool { return s.Name == svc })
				if assert.GreaterOrEqual(ct, j, 0, out) {
					assert.Greater(ct, after.Services[j].Restarts, before.Services[i].Restarts, "%s restarted", svc)
					assert.Equal(ct, "SERVICE_STATE_RUNNING", after.Services[j].State)
				}
			}, 2*time.Minute, time.Second)
			out, err = c.ctl("health", "--wait", "--wait-timeout", "4m")
			require.NoError(t, err, "after killing %s: %s", svc, out)
		}
		out, err := kubectlRun(t, kcfg, "rollout", "status", "deployment/echo", "--timeout", "4m")
		require.NoError(t, err, out)
		now, err := pods(t, kcfg, "-l", "app=echo")
		require.NoError(t, err)
		running := 0
		for _, p := range now {
			if p.Status.Phase == "Running" {
				running++
			}
		}
		assert.Equal(t, 2, running, "the pods recovered: %+v", now)
	})

	t.Run("ARollingUpgradeDrainsEveryNodeAndTheDeploymentStaysAvailable", func(t *testing.T) {
		// The budget: one echo pod available at every moment, so the
		// drains evict them one at a time, each after its replacement is
		// Ready elsewhere.
		pdb := filepath.Join(c.dir, "echo-pdb.yaml")
		require.NoError(t, os.WriteFile(pdb, []byte(echoBudget), 0o600))
		out, err := kubectlRun(t, kcfg, "apply", "-f", pdb)
		require.NoError(t, err, out)
		out, err = kubectlRun(t, kcfg, "rollout", "status", "deployment/echo", "--timeout", "4m")
		require.NoError(t, err, out)

		v2 := version + "-up"
		rel := buildStaticRelease(t, v2)
		u := newUpgradeClients(c)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var seen kubeUpgradeSamples
		wg.Go(func() { seen = sampleKube(t, kcfg, stop) })
		halted := false
		halt := func() {
			if !halted {
				close(stop)
				wg.Wait()
				halted = true
			}
		}
		defer halt()
		start := time.Now()
		id := c.startUpgrade(t, rel)
		p := u.waitPhase(t, id, "done", 15*time.Minute)
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		halt()
		t.Logf("3+1 Kubernetes containers upgraded in %s; %d samples, fewest echo pods available %d", took.Round(time.Second), seen.samples, seen.minAvailable)
		for _, s := range p.GetSteps() {
			assert.Equal(t, "done", s.GetState(), s.GetNode())
			assert.Equal(t, int32(1), s.GetAttempt(), "%s granted once", s.GetNode())
		}
		require.Positive(t, seen.samples)
		assert.GreaterOrEqual(t, seen.minAvailable, 1, "the Deployment stayed available (its budget held)")
		for _, n := range []string{"cp1", "cp2", "cp3", "worker1"} {
			assert.True(t, seen.cordoned[n], "%s was cordoned during its upgrade", n)
		}
		for name, v := range u.versions(t) {
			assert.Equal(t, v2+"/"+boot.SlotB, v, "%s after the upgrade", name)
		}
		nodes, err := kubeNodes(t, kcfg)
		require.NoError(t, err)
		require.Len(t, nodes, 4)
		for _, n := range nodes {
			assert.True(t, n.ready(), "%s Ready", n.Metadata.Name)
			assert.False(t, n.Spec.Unschedulable, "%s uncordoned", n.Metadata.Name)
			assert.Equal(t, "Cairn "+v2, n.Status.NodeInfo.OSImage, "%s reports the new release (kubectl get nodes -o wide)", n.Metadata.Name)
		}
		out, err = kubectlRun(t, kcfg, "get", "nodes", "-o", "wide")
		require.NoError(t, err, out)
		t.Logf("after the upgrade:\n%s", out)
	})
}

// echoBudget keeps one echo pod available through voluntary disruptions
// (evictions, as an upgrade's drains make).
const echoBudget = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: echo
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: echo}
`

// kubeUpgradeSamples is what sampleKube saw: the fewest echo pods
// available at once, and every node seen cordoned.
type kubeUpgradeSamples struct {
	samples      int
	minAvailable int
	cordoned     map[string]bool
}

// sampleKube reads the echo Deployment's available replicas and the
// Nodes' unschedulable flags every 500 ms until stop. A sample that fails
// (an apiserver restarting with its node) is skipped, not counted.
func sampleKube(t testing.TB, kcfg string, stop <-chan struct{}) kubeUpgradeSamples {
	s := kubeUpgradeSamples{minAvailable: 1 << 30, cordoned: map[string]bool{}}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return s
		case <-tick.C:
		}
		out, err := kubectlRun(t, kcfg, "get", "deployment", "echo", "-o", "jsonpath={.status.availableReplicas}")
		if err != nil {
			continue
		}
		avail, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			avail = 0 // the field is left out at zero
		}
		nodes, err := kubeNodes(t, kcfg)
		if err != nil {
			continue
		}
		s.samples++
		s.minAvailable = min(s.minAvailable, avail)
		for _, n := range nodes {
			if n.Spec.Unschedulable {
				s.cordoned[n.Metadata.Name] = true
			}
		}
	}
}

// staticPodsRunning waits for kubelet's mirror pods of the static pods:
// each control-plane component on each of controlPlanes, Running.
func staticPodsRunning(t *testing.T, kcfg string, controlPlanes []string, wait time.Duration) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ps, err := pods(t, kcfg, "-n", "kube-system", "-l", "tier=control-plane")
		if !assert.NoError(ct, err) {
			return
		}
		running := map[string]bool{}
		for _, p := range ps {
			if p.Status.Phase == "Running" {
				running[p.Metadata.Name] = true
			}
		}
		for _, cp := range controlPlanes {
			for _, comp := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
				assert.True(ct, running[comp+"-"+cp], "%s runs on %s as a static pod", comp, cp)
			}
		}
	}, wait, 2*time.Second)
}

// deployEcho runs the test application (echoDeployment, the echo image
// tagged version) and returns its two pods, once the rollout is done,
// spread over two nodes where the cluster has two (spread).
func deployEcho(t *testing.T, kcfg, dir, version string, spread bool, wait time.Duration) []pod {
	t.Helper()
	manifest := filepath.Join(dir, "echo.yaml")
	require.NoError(t, os.WriteFile(manifest, fmt.Appendf(nil, echoDeployment, version), 0o600))
	out, err := kubectlRun(t, kcfg, "apply", "-f", manifest)
	require.NoError(t, err, out)
	out, err = kubectlRun(t, kcfg, "rollout", "status", "deployment/echo", "--timeout", wait.String())
	require.NoError(t, err, out)
	ps, err := pods(t, kcfg, "-l", "app=echo")
	require.NoError(t, err)
	require.Len(t, ps, 2)
	if spread {
		assert.NotEqual(t, ps[0].Spec.NodeName, ps[1].Spec.NodeName, "spread over two nodes")
	}
	return ps
}

// podsReachEachOther: each of ps reaches the other by pod IP (across nodes
// over Cairn's pod routes, on one node over its bridge).
func podsReachEachOther(t *testing.T, kcfg string, ps []pod) {
	t.Helper()
	for i, from := range ps {
		to := ps[1-i]
		out, err := kubectlRun(t, kcfg, "exec", from.Metadata.Name, "--", "/usr/bin/cairn-echo", "get", "http://"+to.Status.PodIP+":8080/")
		require.NoError(t, err, "%s on %s → %s on %s: %s", from.Metadata.Name, from.Spec.NodeName, to.Metadata.Name, to.Spec.NodeName, out)
		assert.Contains(t, out, to.Metadata.Name, "the other pod answered")
	}
}

// serviceReachesEveryPod exposes the echo Deployment as a ClusterIP
// Service and requires that, from each of ps, both its ClusterIP and its
// DNS name (CoreDNS, once its rollout is done) reach every one of ps.
func serviceReachesEveryPod(t *testing.T, kcfg string, ps []pod, wait time.Duration) {
	t.Helper()
	out, err := kubectlRun(t, kcfg, "expose", "deployment", "echo", "--port", "80", "--target-port", "8080")
	require.NoError(t, err, out)
	out, err = kubectlRun(t, kcfg, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout", wait.String())
	require.NoError(t, err, "the cluster DNS runs: %s", out)
	for _, target := range []string{"clusterIP", "name"} {
		url := "http://echo.default.svc.cluster.local/"
		if target == "clusterIP" {
			ip, err := kubectlRun(t, kcfg, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
			require.NoError(t, err, ip)
			url = "http://" + ip + "/"
		}
		for _, from := range ps {
			served := map[string]bool{}
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				out, err := kubectlRun(t, kcfg, "exec", from.Metadata.Name, "--", "/usr/bin/cairn-echo", "get", url)
				if assert.NoError(ct, err, "%s from %s: %s", url, from.Metadata.Name, out) {
					for _, p := range ps {
						if strings.Contains(out, "hostname: "+p.Metadata.Name) {
							served[p.Metadata.Name] = true
						}
					}
				}
				assert.Len(ct, served, len(ps), "%s from %s reaches every pod", url, from.Metadata.Name)
			}, wait/2, 200*time.Millisecond)
		}
	}
}

// dockerProcess finds, from the host, the PID of the process in container
// machine whose argv[0] is argv0 (the host sees every container's
// processes in its own PID namespace).
func dockerProcess(t testing.TB, machine, argv0 string) int {
	t.Helper()
	out := dockerOut(t, "top", machine, "-eo", "pid,args")
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == argv0 {
			var pid int
			if _, err := fmt.Sscan(f[0], &pid); err == nil {
				return pid
			}
		}
	}
	return 0
}
