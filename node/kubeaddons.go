package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/pki"
)

// kubeAddon is one Kubernetes object Cairn keeps in the cluster, applied
// server-side (field manager "cairn") to its URL path.
type kubeAddon struct {
	path string
	obj  map[string]any
}

// kubeAddons are the objects every Cairn cluster with kubelets needs:
//
//   - (first) kube-proxy runs with its node's kubelet credentials
//     (system:node:NAME in system:nodes; no other identity needs a
//     certificate), so the group is bound to Kubernetes' own
//     system:node-proxier role;
//   - the cluster DNS: CoreDNS (the image's, never pulled) as the
//     Deployment coredns behind the Service kube-dns at the service
//     network's tenth address (kubelet's clusterDNS), answering for
//     Services and Pods of the cluster domain; nothing upstream (a Cairn
//     cluster may have no route to any resolver), so other names fail
//     fast instead of timing out.
func kubeAddons(c *config.Config) ([]kubeAddon, error) {
	dnsIP, err := pki.KubeServiceIP(c.Cluster.Network.ServiceCIDR, pki.KubeDNSServiceIndex)
	if err != nil {
		return nil, err
	}
	domain := c.Cluster.Network.DNSDomain
	managed := map[string]any{"app.kubernetes.io/managed-by": "cairn"}
	dnsLabels := map[string]any{"k8s-app": "kube-dns"}
	meta := func(name string, labels map[string]any) map[string]any {
		m := map[string]any{"name": name, "labels": merge(managed, labels)}
		return m
	}
	nsMeta := func(name string, labels map[string]any) map[string]any {
		m := meta(name, labels)
		m["namespace"] = "kube-system"
		return m
	}
	corefile := fmt.Sprintf(`.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}
`, domain)
	return []kubeAddon{
		{path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cairn:node-proxier", obj: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta("cairn:node-proxier", nil),
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"},
			"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": pki.KubeNodesGroup}},
		}},
		{path: "/api/v1/namespaces/kube-system/serviceaccounts/coredns", obj: map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount", "metadata": nsMeta("coredns", nil)}},
		{path: "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:coredns", obj: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta("system:coredns", nil),
			"rules": []any{
				map[string]any{"apiGroups": []any{""}, "resources": []any{"endpoints", "services", "pods", "namespaces"}, "verbs": []any{"list", "watch"}},
				map[string]any{"apiGroups": []any{"discovery.k8s.io"}, "resources": []any{"endpointslices"}, "verbs": []any{"list", "watch"}},
			}}},
		{path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:coredns", obj: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta("system:coredns", nil),
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}},
		}},
		{path: "/api/v1/namespaces/kube-system/configmaps/coredns", obj: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": nsMeta("coredns", nil), "data": map[string]any{"Corefile": corefile}}},
		{path: "/apis/apps/v1/namespaces/kube-system/deployments/coredns", obj: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": nsMeta("coredns", dnsLabels),
			"spec": map[string]any{
				"replicas": 2,
				"selector": map[string]any{"matchLabels": dnsLabels},
				"template": map[string]any{
					"metadata": map[string]any{"labels": dnsLabels},
					"spec": map[string]any{
						"serviceAccountName": "coredns", "priorityClassName": "system-cluster-critical", "dnsPolicy": "Default",
						"tolerations": []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}},
						"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
							"whenUnsatisfiable": "ScheduleAnyway", "labelSelector": map[string]any{"matchLabels": dnsLabels}}},
						"containers": []any{map[string]any{
							"name": "coredns", "image": kube.CoreDNSImage, "imagePullPolicy": "Never",
							"args": []any{"-conf", "/etc/coredns/Corefile"},
							// Port 53 as root, with only the capability to bind it.
							"securityContext": map[string]any{"runAsUser": 0, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
								"capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"NET_BIND_SERVICE"}}},
							"ports": []any{
								map[string]any{"name": "dns", "containerPort": 53, "protocol": "UDP"},
								map[string]any{"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
								map[string]any{"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
							},
							"volumeMounts":   []any{map[string]any{"name": "config", "mountPath": "/etc/coredns", "readOnly": true}},
							"livenessProbe":  map[string]any{"httpGet": map[string]any{"path": "/health", "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10},
							"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": 8181}, "periodSeconds": 2},
							"resources":      map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "40Mi"}, "limits": map[string]any{"memory": "170Mi"}},
						}},
						"volumes": []any{map[string]any{"name": "config", "configMap": map[string]any{"name": "coredns"}}},
					},
				},
			}}},
		{path: "/api/v1/namespaces/kube-system/services/kube-dns", obj: map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": nsMeta("kube-dns", merge(dnsLabels, map[string]any{"kubernetes.io/name": "CoreDNS"})),
			"spec": map[string]any{"selector": dnsLabels, "clusterIP": dnsIP.String(), "ports": []any{
				map[string]any{"name": "dns", "port": 53, "protocol": "UDP"},
				map[string]any{"name": "dns-tcp", "port": 53, "protocol": "TCP"},
				map[string]any{"name": "metrics", "port": 9153, "protocol": "TCP"},
			}}}},
	}, nil
}

// merge returns a's entries overlaid with b's.
func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// kubeAddonsApplier applies kubeAddons on the Raft leader (a LeaderFunc:
// one control plane does it, again after a failover) through the local
// apiserver, with a short-lived cluster-admin certificate from the
// Kubernetes CA: every few seconds until the apiserver takes them, then
// every few minutes (server-side apply is idempotent, and it puts back an
// object someone deleted).
type kubeAddonsApplier struct {
	ca     config.CertKeyPair
	server string
	log    *slog.Logger
	// config reads the stored cluster config (nil, false: none yet or
	// Kubernetes disabled: nothing to apply).
	config func(ctx context.Context) (*config.Config, bool)
	// kubelets reports whether any node runs kubelet: the cluster DNS is
	// applied only then (process mode has no nodes to run it on).
	kubelets func() bool
}

func (a *kubeAddonsApplier) run(ctx context.Context) {
	var last string
	for {
		// Until applied, retry soon: the config may not be stored yet,
		// nor the apiserver up.
		wait := 3 * time.Second
		if cfg, ok := a.config(ctx); ok {
			err := a.applyAll(ctx, cfg)
			switch {
			case err != nil && err.Error() != last && ctx.Err() == nil:
				a.log.Info("Kubernetes addons not applied yet", "error", err)
				last = err.Error()
			case err == nil:
				if last != "-" {
					a.log.Info("Kubernetes addons applied")
					last = "-"
				}
				wait = 5 * time.Minute
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *kubeAddonsApplier) client() (*http.Client, error) { return kubeAdminClient(a.ca) }

// kubeAdminClient is an HTTP client of the apiserver as cluster-admin,
// with a certificate from the Kubernetes CA that lasts an hour: what the
// Raft leader's own Kubernetes work (the addons, upgrade drains) uses.
func kubeAdminClient(ca config.CertKeyPair) (*http.Client, error) {
	pair, err := pki.IssueKubeClient(ca, pki.KubeAdminUser, []string{pki.KubeAdminGroup}, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Crt)) {
		return nil, errors.New("no Kubernetes CA certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func (a *kubeAddonsApplier) applyAll(ctx context.Context, cfg *config.Config) error {
	addons, err := kubeAddons(cfg)
	if err != nil {
		return err
	}
	if !a.kubelets() {
		addons = addons[:1] // the binding only
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	var errs []error
	for _, ad := range addons {
		errs = append(errs, applyObject(ctx, c, a.server, ad))
	}
	return errors.Join(errs...)
}

// applyObject server-side applies one object (PATCH with
// application/apply-patch+yaml, of which JSON is a subset).
func applyObject(ctx context.Context, c *http.Client, server string, ad kubeAddon) error {
	body, err := json.Marshal(ad.obj)
	if err != nil {
		return err
	}
	u := server + ad.path + "?" + url.Values{"fieldManager": {"cairn"}, "force": {"true"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("apply %s: %s: %s", ad.path, res.Status, bytes.TrimSpace(msg))
	}
	return nil
}
