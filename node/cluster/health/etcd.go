package health

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// EtcdView is a control plane's etcd member as the node reports it in its
// EtcdStatus resource (node/machine/controllers): what the etcd check
// judges.
type EtcdView struct {
	Phase      string `json:"phase"`
	Healthy    bool   `json:"healthy"`
	Reason     string `json:"reason"`
	MemberID   string `json:"memberID"`
	ClusterID  string `json:"clusterID"`
	Learner    bool   `json:"learner"`
	Members    int    `json:"members"`
	Generation uint64 `json:"generation"`
}

// ParseEtcdView reads an EtcdStatus resource's spec (YAML or JSON, as the
// resource API serves it).
func ParseEtcdView(spec []byte) (*EtcdView, error) { return parseView[EtcdView]("etcd status", spec) }

// parseView reads a status resource's spec (YAML or JSON) into a view.
func parseView[T any](what string, spec []byte) (*T, error) {
	var v T
	if err := yaml.Unmarshal(spec, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &v, nil
}

// checkEtcd: every control plane runs a healthy voting member of one etcd
// cluster that has exactly the configuration's control planes as members.
// A cluster whose control planes all run without etcd (cairnd --etcd=none)
// passes, saying so; one that runs it on some only does not.
func checkEtcd(o Observation) Check {
	var p problems
	if o.MembersErr != nil {
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
		return p.result("etcd", "")
	}
	cps := o.ControlPlanes
	if cps == nil {
		cps = controlPlaneMembers(o)
	}
	ids := map[string][]string{}
	running := 0
	var none []string
	for _, n := range cps {
		r, ok := o.Etcd[n]
		switch {
		case !ok:
			p.add(n, "%s: not asked (not a member yet)", n)
			continue
		case r.Err != nil:
			p.add(n, "%s: %s", n, ShortError(r.Err))
			continue
		case r.Val == nil:
			none = append(none, n)
			continue
		}
		running++
		v := r.Val
		switch {
		case !v.Healthy:
			p.add(n, "%s: %s (%s)", n, v.Phase, v.Reason)
		case v.Learner:
			p.add(n, "%s is a learner, not yet promoted", n)
		case v.Members != len(cps):
			p.add(n, "%s sees %d etcd members, the configuration has %d control planes", n, v.Members, len(cps))
		}
		if v.ClusterID != "" {
			ids[v.ClusterID] = append(ids[v.ClusterID], n)
		}
	}
	if running == 0 && len(none) == len(cps) && len(cps) > 0 {
		return Check{Name: "etcd", OK: true, Detail: "no control plane runs etcd (cairnd --etcd=none)"}
	}
	for _, n := range none {
		p.add(n, "%s runs no etcd member", n)
	}
	if len(ids) > 1 {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(ids)) {
			parts = append(parts, fmt.Sprintf("%s (%s)", id, strings.Join(ids[id], ", ")))
		}
		p.add("", "more than one etcd cluster: %s", strings.Join(parts, ", "))
	}
	var id string
	for k := range ids {
		id = k
	}
	return p.result("etcd", fmt.Sprintf("%d %s of etcd cluster %s, all healthy (%s)",
		running, plural(running, "voter", "voters"), id, strings.Join(cps, ", ")))
}
