package health

import clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"

// Response renders checks as the answer of ClusterService/Health, evaluated
// by node.
func Response(node string, checks []Check) *clusterv1.HealthResponse {
	out := &clusterv1.HealthResponse{Healthy: Healthy(checks), NodeName: node}
	for _, c := range checks {
		out.Checks = append(out.Checks, &clusterv1.HealthCheck{Name: c.Name, Ok: c.OK, Detail: c.Detail, Nodes: c.Nodes})
	}
	return out
}

// FromResponse reads the checks of a ClusterService/Health answer.
func FromResponse(r *clusterv1.HealthResponse) []Check {
	out := make([]Check, 0, len(r.GetChecks()))
	for _, c := range r.GetChecks() {
		out = append(out, Check{Name: c.GetName(), OK: c.GetOk(), Detail: c.GetDetail(), Nodes: c.GetNodes()})
	}
	return out
}
