package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// clusterDefinitions returns the cluster-plane resource types the endpoint
// knows (ClusterResourceService), or none from a node that predates the
// service (unimplemented), so get still reads that node's local types.
func clusterDefinitions(ctx context.Context, c *apiClient) ([]*clusterv1.ClusterResourceDefinition, error) {
	var defs []*clusterv1.ClusterResourceDefinition
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		res, err := ep.clusterResource.ListResourceDefinitions(ctx, request(&clusterv1.ListResourceDefinitionsRequest{}, ""))
		if connect.CodeOf(err) == connect.CodeUnimplemented {
			return nil
		}
		if err != nil {
			return err
		}
		defs = res.Msg.GetDefinitions()
		return nil
	})
	return defs, err
}

// matchCluster returns the cluster type name stands for (its name or an
// alias, in any letter case), or nil.
func matchCluster(defs []*clusterv1.ClusterResourceDefinition, name string) *clusterv1.ClusterResourceDefinition {
	for _, d := range defs {
		if strings.EqualFold(d.GetType(), name) || slices.ContainsFunc(d.GetAliases(), func(a string) bool { return strings.EqualFold(a, name) }) {
			return d
		}
	}
	return nil
}

// unknownTypeHint is the hint for a type neither scope knows: the node's
// error names its local types, this names the cluster ones.
func unknownTypeHint(defs []*clusterv1.ClusterResourceDefinition) string {
	if len(defs) == 0 {
		return rdHint
	}
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.GetType()
	}
	return "cluster types: " + strings.Join(names, ", ") + "; " + rdHint
}

// getClusterResources is `cairnctl get TYPE [ID]` for a cluster-plane
// type: read through ClusterResourceService (linearizable: the leader
// answers), once per named node or once through the endpoint.
func getClusterResources(ctx context.Context, g *globals, c *apiClient, nodes []string, typ, id string) error {
	results := fanOut(ctx, c, nodes, func(ctx context.Context, ep endpoint, node string) ([]*clusterv1.Resource, error) {
		rc := ep.clusterResource
		if id != "" {
			res, err := rc.GetResource(ctx, request(&clusterv1.GetResourceRequest{Type: typ, Id: id}, node))
			if err != nil {
				return nil, err
			}
			return []*clusterv1.Resource{res.Msg.GetResource()}, nil
		}
		res, err := rc.ListResources(ctx, request(&clusterv1.ListResourcesRequest{Type: typ}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetResources(), nil
	})
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		var items []any
		for _, r := range results {
			for _, res := range r.val {
				items = append(items, clusterResourceObject(r.node, res))
			}
		}
		if err := g.printData(orderedObject{{"resources", items}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	tab := newTable("NODE", "TYPE", "ID", "VERSION")
	for _, r := range results {
		for _, res := range r.val {
			tab.add(r.node, res.GetType(), res.GetId(), strconv.FormatUint(res.GetVersion(), 10))
		}
	}
	if err := tab.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}

// clusterResourceObject renders a cluster resource as local resources are
// rendered (its spec as data), plus its revisions.
func clusterResourceObject(node string, r *clusterv1.Resource) orderedObject {
	var spec any
	_ = yaml.Unmarshal([]byte(r.GetSpecYaml()), &spec)
	obj := orderedObject{
		{"type", r.GetType()}, {"id", r.GetId()}, {"version", r.GetVersion()}, {"spec", spec},
		{"createRevision", r.GetCreateRevision()}, {"updateRevision", r.GetUpdateRevision()},
	}
	if node != "" {
		obj = obj.with("node", node)
	}
	return obj
}

// watchClusterResources prints every event of a cluster resource watch
// until the context ends: the existing resources first, then each change
// with its revision.
func watchClusterResources(ctx context.Context, c *apiClient, node, typ, id string, w io.Writer) error {
	return c.call(ctx, func(ctx context.Context, ep endpoint) error {
		stream, err := ep.clusterResource.WatchResources(ctx, request(&clusterv1.WatchResourcesRequest{Type: typ, Id: id}, node))
		if err != nil {
			return err
		}
		defer stream.Close()
		fmt.Fprintf(w, "%-8s %-20s %-40s %-8s %s\n", "EVENT", "TYPE", "ID", "VERSION", "REVISION")
		for stream.Receive() {
			ev := stream.Msg()
			fmt.Fprintf(w, "%-8s %-20s %-40s %-8d %d\n", enumLabel(ev.GetEvent().String(), "RESOURCE_EVENT_TYPE_"),
				ev.GetResource().GetType(), ev.GetResource().GetId(), ev.GetResource().GetVersion(), ev.GetRevision())
		}
		if ctx.Err() != nil {
			return nil
		}
		return stream.Err()
	})
}
