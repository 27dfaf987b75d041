package kube

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// ComponentImage is the image of a control-plane component: rootfs/images
// packs registry.k8s.io/COMPONENT:vVersion from the same kube binary, and
// it is imported at boot (never pulled).
func ComponentImage(component string) string { return "registry.k8s.io/" + component + ":v" + Version }

// StaticPod renders a control-plane component as kubelet's static pod
// (the Talos way): the component's image, its command line and
// environment as args and env, host networking, the control plane's
// files (dir, Layout.Dir: certificates, kubeconfigs, cert dirs) mounted at
// the same path, so every flag's path holds inside the container too, and
// a startup and a liveness probe on its health URL (kubelet restarts it
// when the probe fails or the process dies). Labels say it is Cairn's.
func StaticPod(component string, args, env []string, healthURL, dir string) ([]byte, error) {
	u, err := url.Parse(healthURL)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("%w: health URL %q of %s", ErrBadInputs, healthURL, component)
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("%w: health URL %q of %s: %w", ErrBadInputs, healthURL, component, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("%w: health URL %q of %s: %w", ErrBadInputs, healthURL, component, err)
	}
	var envs []any
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "PATH" {
			continue // the image's PATH finds the component
		}
		envs = append(envs, map[string]any{"name": k, "value": v})
	}
	probePath := u.Path
	if component == APIServer {
		probePath = "/livez" // alive, not ready: readiness waits for etcd
	}
	probe := map[string]any{"host": host, "port": port, "path": probePath, "scheme": "HTTPS"}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{
			"name": component, "namespace": "kube-system",
			"labels": map[string]any{"component": component, "tier": "control-plane", "app.kubernetes.io/managed-by": "cairn"},
		},
		"spec": map[string]any{
			"hostNetwork": true, "priorityClassName": "system-node-critical",
			"containers": []any{map[string]any{
				"name": component, "image": ComponentImage(component), "imagePullPolicy": "Never",
				"command": []any{component}, "args": toAny(args), "env": envs,
				"volumeMounts": []any{map[string]any{"name": "kubernetes", "mountPath": dir}},
				// kubeadm's probes: a startup probe gives the component up
				// to ten minutes (a VM under TCG needs several to start an
				// apiserver), then the liveness probe restarts it after
				// eight failures in a row.
				"startupProbe": map[string]any{
					"httpGet":             probe,
					"initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 15, "failureThreshold": 60,
				},
				"livenessProbe": map[string]any{
					"httpGet":       probe,
					"periodSeconds": 10, "timeoutSeconds": 15, "failureThreshold": 8,
				},
				"resources": map[string]any{"requests": map[string]any{"cpu": "100m"}},
			}},
			"volumes": []any{map[string]any{"name": "kubernetes", "hostPath": map[string]any{"path": dir, "type": "Directory"}}},
		},
	}
	return yaml.Marshal(pod)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
