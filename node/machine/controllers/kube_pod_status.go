package controllers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// KubePodStatus is the source of KubePodStatus resources on a control
// plane whose components are kubelet's static pods: every Every it finds
// each component's process (argv[0] the component, with Cairn's settings
// in its environment — the pod's processes are visible in the node's
// process table) and asks its health URL (on IP, verified against CAFile,
// the Kubernetes CA). It only observes; kubelet restarts a pod.
type KubePodStatus struct {
	IP     string
	CAFile string
	Every  time.Duration
	// Proc is /proc (a test's tree elsewhere).
	Proc string
}

// Name implements runtime.Source.
func (s *KubePodStatus) Name() string { return "kube-pod-status" }

// Outputs implements runtime.Source.
func (s *KubePodStatus) Outputs() []string { return []string{TypeKubePodStatus} }

// componentPorts are each component's health endpoint.
var componentPorts = map[string]struct {
	port int
	path string
}{
	kube.APIServer: {kube.APIServerPort, "/readyz"}, kube.ControllerManager: {kube.ControllerManagerPort, "/healthz"},
	kube.Scheduler: {kube.SchedulerPort, "/healthz"},
}

// Run implements runtime.Source.
func (s *KubePodStatus) Run(ctx context.Context, w runtime.Writer) error {
	proc := s.Proc
	if proc == "" {
		proc = "/proc"
	}
	last := map[string]KubePodStatusSpec{} // as published
	seen := map[string]int{}               // the last PID seen of each
	for {
		client := s.client()
		for _, name := range kube.ControlPlaneComponents {
			st := KubePodStatusSpec{State: "missing", Restarts: last[name].Restarts}
			if pid := findComponent(proc, name); pid != 0 {
				st.State, st.PID, st.Health = "running", pid, "unhealthy"
				if seen[name] != 0 && seen[name] != pid {
					st.Restarts++
				}
				seen[name] = pid
				p := componentPorts[name]
				url := "https://" + net.JoinHostPort(s.IP, strconv.Itoa(p.port)) + p.path
				if client != nil {
					if res, err := client.Get(url); err == nil {
						if res.StatusCode == http.StatusOK {
							st.Health = "healthy"
						} else {
							st.Message = url + ": " + res.Status
						}
						_ = res.Body.Close()
					} else {
						st.Message = err.Error()
					}
				}
			} else if seen[name] != 0 {
				st.Message = "its process is gone (kubelet restarts it)"
			}
			if st != last[name] {
				if err := w.Put(TypeKubePodStatus, name, st, nil); err != nil {
					return err
				}
				last[name] = st
			}
		}
		if client != nil {
			client.CloseIdleConnections()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.Every):
		}
	}
}

// client trusts the Kubernetes CA, or is nil while its file is missing.
func (s *KubePodStatus) client() *http.Client {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// findComponent returns the PID of the process whose argv[0] is the
// component (by base name) and whose environment carries Cairn's
// settings, or 0.
func findComponent(proc, name string) int {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if filepath.Base(string(argv0)) != name {
			continue
		}
		env, err := os.ReadFile(filepath.Join(proc, e.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte(KubeSettingsEnv+"=")) {
			return pid
		}
	}
	return 0
}
