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
	"github.com/cairn-project/cairn/node/pki"
)

// kubeAddon is one Kubernetes object Cairn keeps in the cluster, applied
// server-side (field manager "cairn") to its URL path.
type kubeAddon struct {
	path string
	obj  map[string]any
}

// kubeAddons are the objects every Cairn cluster with kubelets needs:
// kube-proxy runs with its node's kubelet credentials (system:node:NAME
// in system:nodes; no other identity needs a certificate), so the group is
// bound to Kubernetes' own system:node-proxier role.
func kubeAddons() []kubeAddon {
	return []kubeAddon{{
		path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cairn:node-proxier",
		obj: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": "cairn:node-proxier", "labels": map[string]any{"app.kubernetes.io/managed-by": "cairn"}},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"},
			"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": pki.KubeNodesGroup}},
		},
	}}
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
	// disabled reports whether the cluster config disables Kubernetes.
	disabled func(ctx context.Context) bool
}

func (a *kubeAddonsApplier) run(ctx context.Context) {
	var last string
	for {
		// Until applied, retry soon: the config may not be stored yet,
		// nor the apiserver up.
		wait := 3 * time.Second
		if !a.disabled(ctx) {
			err := a.applyAll(ctx)
			switch {
			case err != nil && err.Error() != last && ctx.Err() == nil:
				a.log.Info("Kubernetes addons not applied yet", "error", err)
				last = err.Error()
			case err == nil:
				if last != "-" {
					a.log.Info("Kubernetes addons applied", "objects", len(kubeAddons()))
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

func (a *kubeAddonsApplier) client() (*http.Client, error) {
	pair, err := pki.IssueKubeClient(a.ca, pki.KubeAdminUser, []string{pki.KubeAdminGroup}, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(a.ca.Crt)) {
		return nil, errors.New("no Kubernetes CA certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func (a *kubeAddonsApplier) applyAll(ctx context.Context) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	var errs []error
	for _, ad := range kubeAddons() {
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
