package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// kubeDrainer cordons, drains and uncordons Kubernetes Nodes for the
// upgrade coordinator on the Raft leader, through the local apiserver
// with a short-lived cluster-admin certificate (as kubeAddonsApplier),
// and reads back what the plan's gates need. It is what `kubectl drain`
// does, cut to what a node upgrade needs: evictions through the Eviction
// API (policy/v1), so a PodDisruptionBudget that allows no disruption
// holds the drain up (the apiserver answers 429) until the pods it
// guards are running elsewhere; DaemonSet pods and static (mirror) pods
// stay, and finished pods do not count. Each call does one round and
// returns: the coordinator asks again on its next pass.
type kubeDrainer struct {
	client func() (*http.Client, error)
	server string

	mu sync.Mutex
	// blocked is, per node, what held its last drain round up ("" when
	// nothing did): the plan's reason if the drain times out.
	blocked map[string]string
}

func newKubeDrainer(ca config.CertKeyPair, server string) *kubeDrainer {
	return &kubeDrainer{client: func() (*http.Client, error) { return kubeAdminClient(ca) }, server: server, blocked: map[string]string{}}
}

// kubeNodeState is what the plan reads of one Node.
type kubeNodeState struct {
	cordoned bool
	// left are the pods a drain still has to move off the node.
	left    []string
	blocked string
}

// Drain cordons node and asks for the eviction of every pod still to go.
func (d *kubeDrainer) Drain(ctx context.Context, node string) error {
	c, err := d.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	if err := d.setUnschedulable(ctx, c, node, true); err != nil {
		return err
	}
	pods, err := d.pods(ctx, c, node)
	if err != nil {
		return err
	}
	var blocked []string
	var errs []error
	for _, p := range pods {
		if !p.evictable() || p.Metadata.DeletionTimestamp != "" {
			continue
		}
		why, err := d.evict(ctx, c, p)
		if err != nil {
			errs = append(errs, err)
		}
		if why != "" {
			blocked = append(blocked, why)
		}
	}
	d.mu.Lock()
	d.blocked[node] = strings.Join(blocked, "; ")
	d.mu.Unlock()
	return errors.Join(errs...)
}

// Uncordon makes node schedulable again.
func (d *kubeDrainer) Uncordon(ctx context.Context, node string) error {
	c, err := d.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	d.mu.Lock()
	delete(d.blocked, node)
	d.mu.Unlock()
	return d.setUnschedulable(ctx, c, node, false)
}

// state reads node's Node and pods: cordoned, what is left to move, what
// held the last drain round up.
func (d *kubeDrainer) state(ctx context.Context, node string) (kubeNodeState, error) {
	c, err := d.client()
	if err != nil {
		return kubeNodeState{}, err
	}
	defer c.CloseIdleConnections()
	var n struct {
		Spec struct {
			Unschedulable bool `json:"unschedulable"`
		} `json:"spec"`
	}
	if err := d.get(ctx, c, "/api/v1/nodes/"+url.PathEscape(node), &n); err != nil {
		return kubeNodeState{}, err
	}
	pods, err := d.pods(ctx, c, node)
	if err != nil {
		return kubeNodeState{}, err
	}
	st := kubeNodeState{cordoned: n.Spec.Unschedulable}
	for _, p := range pods {
		if p.evictable() {
			st.left = append(st.left, p.Metadata.Namespace+"/"+p.Metadata.Name)
		}
	}
	slices.Sort(st.left)
	d.mu.Lock()
	st.blocked = d.blocked[node]
	d.mu.Unlock()
	return st, nil
}

// kubePod is what a drain reads of a pod.
type kubePod struct {
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		Annotations       map[string]string `json:"annotations"`
		DeletionTimestamp string            `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Kind string `json:"kind"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// evictable: a pod a drain moves off its node. DaemonSet pods would be
// recreated on the same node, a static pod's mirror cannot be evicted
// (kubelet runs it from its manifest), and a finished pod holds nothing.
func (p kubePod) evictable() bool {
	if _, mirror := p.Metadata.Annotations["kubernetes.io/config.mirror"]; mirror {
		return false
	}
	for _, o := range p.Metadata.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed"
}

func (d *kubeDrainer) pods(ctx context.Context, c *http.Client, node string) ([]kubePod, error) {
	var list struct {
		Items []kubePod `json:"items"`
	}
	q := url.Values{"fieldSelector": {"spec.nodeName=" + node}}
	if err := d.get(ctx, c, "/api/v1/pods?"+q.Encode(), &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// evict asks for one pod's eviction. A budget that allows no disruption
// now is not an error: it says why ("default/web-1: ..."), and the next
// round asks again.
func (d *kubeDrainer) evict(ctx context.Context, c *http.Client, p kubePod) (string, error) {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "policy/v1", "kind": "Eviction",
		"metadata": map[string]any{"name": p.Metadata.Name, "namespace": p.Metadata.Namespace},
	})
	if err != nil {
		return "", err
	}
	path := "/api/v1/namespaces/" + url.PathEscape(p.Metadata.Namespace) + "/pods/" + url.PathEscape(p.Metadata.Name) + "/eviction"
	status, msg, err := d.do(ctx, c, http.MethodPost, path, "application/json", body)
	name := p.Metadata.Namespace + "/" + p.Metadata.Name
	switch {
	case err != nil:
		return "", err
	case status/100 == 2, status == http.StatusNotFound:
		return "", nil // evicted, or gone already
	case status == http.StatusTooManyRequests:
		return name + ": " + kubeMessage(msg), nil
	}
	return "", fmt.Errorf("evict %s: HTTP %d: %s", name, status, kubeMessage(msg))
}

func (d *kubeDrainer) setUnschedulable(ctx context.Context, c *http.Client, node string, on bool) error {
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": on}})
	if err != nil {
		return err
	}
	status, msg, err := d.do(ctx, c, http.MethodPatch, "/api/v1/nodes/"+url.PathEscape(node), "application/merge-patch+json", body)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("set node %s unschedulable=%t: HTTP %d: %s", node, on, status, kubeMessage(msg))
	}
	return nil
}

func (d *kubeDrainer) get(ctx context.Context, c *http.Client, path string, into any) error {
	status, body, err := d.do(ctx, c, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, status, kubeMessage(body))
	}
	return json.Unmarshal(body, into)
}

// do makes one request and returns its status and body (up to 4 MiB: a
// node's pod list).
func (d *kubeDrainer) do(ctx context.Context, c *http.Client, method, path, contentType string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.server+path, r)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, out, err
}

// kubeMessage is a Kubernetes Status's message, or the body itself.
func kubeMessage(body []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	return strings.TrimSpace(string(body))
}
