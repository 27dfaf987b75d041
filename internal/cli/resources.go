package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
)

// getResources is `cairnctl get TYPE [ID]`: a node's local resources, like
// `talosctl get`, or the cluster-plane resources in Raft when TYPE names a
// cluster type (cluster_resources.go). It hangs off the get command, beside
// `get members`.
func getResources(g *globals, cmd *cobra.Command, args []string, watch bool) error {
	typ, id := args[0], ""
	if len(args) > 1 {
		id = args[1]
	}
	if sub := subcommandFold(cmd, typ); sub != nil {
		return fmt.Errorf("%w: %q is not a resource type; did you mean 'cairnctl get %s'?", ErrUsage, typ, sub.Name())
	}
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	// Cluster-plane types first: names never collide with local ones
	// (node/cluster/resources tests it), so the order only decides which
	// scope is asked.
	clusterDefs, err := clusterDefinitions(cmd.Context(), c)
	if err != nil {
		return err
	}
	cluster := matchCluster(clusterDefs, typ)
	hint := unknownTypeHint(clusterDefs)
	if watch {
		if len(t.nodes) > 1 {
			return fmt.Errorf("--watch follows one node; name at most one with --nodes")
		}
		node := ""
		if len(t.nodes) == 1 {
			node = t.nodes[0]
		}
		if cluster != nil {
			return watchClusterResources(cmd.Context(), c, node, cluster.GetType(), id, g.streams.Out)
		}
		return typeHint(watchResources(cmd.Context(), c, node, typ, id, g.streams.Out), hint)
	}
	if cluster != nil {
		return getClusterResources(cmd.Context(), g, c, t.nodes, cluster.GetType(), id)
	}
	results := fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) ([]*resourcev1.Resource, error) {
		rc := ep.resource
		if id != "" {
			res, err := rc.Get(ctx, request(&resourcev1.GetRequest{Type: typ, Id: id}, node))
			if err != nil {
				return nil, err
			}
			return []*resourcev1.Resource{res.Msg.Resource}, nil
		}
		res, err := rc.List(ctx, request(&resourcev1.ListRequest{Type: typ}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg.Resources, nil
	})
	if err := endpointError(results); err != nil {
		return typeHint(err, hint)
	}
	if g.structured() {
		var items []any
		for _, r := range results {
			for _, res := range r.val {
				items = append(items, resourceObject(r.node, res))
			}
		}
		if err := g.printData(orderedObject{{"resources", items}}); err != nil {
			return err
		}
		return typeHintFor(results, nodeErrors(g.streams.Err, results), hint)
	}
	tab := newTable("NODE", "TYPE", "ID", "VERSION")
	for _, r := range results {
		for _, res := range r.val {
			tab.add(r.node, res.Type, res.Id, strconv.FormatUint(res.Version, 10))
		}
	}
	if err := tab.write(g.streams.Out); err != nil {
		return err
	}
	return typeHintFor(results, nodeErrors(g.streams.Err, results), hint)
}

// subcommandFold returns the subcommand of cmd that name spells in another
// letter case ("Members"), which cobra, matching exactly, took for a type.
func subcommandFold(cmd *cobra.Command, name string) *cobra.Command {
	for _, sub := range cmd.Commands() {
		if strings.EqualFold(sub.Name(), name) || slices.ContainsFunc(sub.Aliases, func(a string) bool { return strings.EqualFold(a, name) }) {
			return sub
		}
	}
	return nil
}

// typeHint adds hint to an invalid_argument answer: the type was unknown.
func typeHint(err error, hint string) error {
	if connect.CodeOf(err) == connect.CodeInvalidArgument {
		return withHint(err, hint)
	}
	return err
}

// typeHintFor adds hint to err when a node answered invalid_argument.
func typeHintFor[T any](results []nodeResult[T], err error, hint string) error {
	for _, r := range results {
		if connect.CodeOf(r.err) == connect.CodeInvalidArgument {
			return withHint(err, hint)
		}
	}
	return err
}

// resourceObject renders a resource with its spec as structured data.
func resourceObject(node string, r *resourcev1.Resource) orderedObject {
	var spec any
	_ = yaml.Unmarshal([]byte(r.SpecYaml), &spec)
	obj := orderedObject{{"type", r.Type}, {"id", r.Id}, {"version", r.Version}, {"spec", spec}}
	if node != "" {
		obj = obj.with("node", node)
	}
	return obj
}

// watchResources prints every event of a watch until the context ends.
func watchResources(ctx context.Context, c *apiClient, node, typ, id string, w io.Writer) error {
	return c.call(ctx, func(ctx context.Context, ep endpoint) error {
		stream, err := ep.resource.Watch(ctx, request(&resourcev1.WatchRequest{Type: typ, Id: id}, node))
		if err != nil {
			return err
		}
		defer stream.Close()
		fmt.Fprintf(w, "%-8s %-20s %-40s %s\n", "EVENT", "TYPE", "ID", "VERSION")
		for stream.Receive() {
			ev := stream.Msg()
			fmt.Fprintf(w, "%-8s %-20s %-40s %d\n", enumLabel(ev.Event.String(), "EVENT_TYPE_"), ev.Resource.Type, ev.Resource.Id, ev.Resource.Version)
		}
		if ctx.Err() != nil {
			return nil
		}
		return stream.Err()
	})
}
