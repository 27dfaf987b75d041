package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// KubernetesStatus sums up KubePhase and the ServiceStatus of each
// component the phase asked for into KubernetesStatus/kubernetes: healthy
// when every one is running and passes its check, or when there is nothing
// to run (disabled); while healthy, the settings the component processes
// run with (read from their environment). A node that should run Kubernetes but cannot
// (unavailable, refused, waiting for etcd) is not healthy, with the
// phase's reason.
type KubernetesStatus struct{}

// Name implements runtime.Controller.
func (c *KubernetesStatus) Name() string { return "kubernetes-status" }

// Inputs implements runtime.Controller.
func (c *KubernetesStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeKubePhase, ID: IDKubernetes}, {Type: TypeServiceStatus}, {Type: TypeKubePodStatus}}
}

// Outputs implements runtime.Controller.
func (c *KubernetesStatus) Outputs() []string { return []string{TypeKubernetesStatus} }

// Run implements runtime.Controller.
func (c *KubernetesStatus) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	ph, ok, err := getSpec[KubePhaseSpec](r, TypeKubePhase, IDKubernetes)
	if err != nil || !ok {
		return err // not a control plane (yet): no status
	}
	st := KubernetesStatusSpec{Phase: ph.Phase, Version: ph.Version, APIServer: ph.APIServer, Reason: ph.Reason}
	switch ph.Phase {
	case KubePhaseDisabled:
		st.Healthy = true
	case KubePhaseRunning:
		var bad []string
		var pids []int
		for _, name := range ph.Components {
			cs := KubeComponentStatus{Name: name, State: "missing"}
			if ph.StaticPods {
				s, found, err := getSpec[KubePodStatusSpec](r, TypeKubePodStatus, name)
				if err != nil {
					return err
				}
				if found {
					cs.State, cs.Restarts, cs.Message = s.State, s.Restarts, s.Message
					pids = append(pids, s.PID)
					cs.Healthy = s.State == "running" && s.Health == "healthy"
				}
			} else if s, found, err := getSpec[ServiceStatusSpec](r, TypeServiceStatus, name); err != nil {
				return err
			} else if found {
				cs.State, cs.Restarts, cs.Message = s.State, s.Restarts, s.Message
				pids = append(pids, s.PID)
				cs.Healthy = s.State == supervisor.StateRunning.String() && s.Health == supervisor.HealthHealthy.String()
			}
			if !cs.Healthy {
				bad = append(bad, fmt.Sprintf("%s %s", name, describeService(cs)))
			}
			st.Components = append(st.Components, cs)
		}
		st.Healthy = len(bad) == 0
		st.Pending = ph.Pending
		if !st.Healthy {
			st.Reason = strings.Join(bad, "; ")
		} else {
			st.Settings = runningSettings(pids)
		}
	}
	return w.Put(TypeKubernetesStatus, IDKubernetes, st, nil)
}

// runningSettings are the control-plane settings every component process
// runs with (their CAIRN_KUBE_SETTINGS), or "" when they differ or one is
// unknown. Read from the processes, not the phase: between a grant and the
// supervisor replacing a component, the phase names the new settings while
// the old process still answers its health check, and the leader must not
// take that for a finished restart.
func runningSettings(pids []int) string {
	settings := ""
	for i, pid := range pids {
		v := processEnv(pid, KubeSettingsEnv)
		if v == "" || (i > 0 && v != settings) {
			return ""
		}
		settings = v
	}
	return settings
}

// describeService says what a component that is not healthy is doing.
func describeService(cs KubeComponentStatus) string {
	if cs.Message != "" {
		return cs.State + ": " + cs.Message
	}
	return cs.State
}
