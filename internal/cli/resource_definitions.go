package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
)

// rdHint points from an unknown resource type to the command that lists
// the known ones.
const rdHint = "'cairnctl get rd' lists the resource types with their aliases; 'cairnctl get members' lists the cluster's nodes"

func newGetDefinitionsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "resourcedefinitions",
		Aliases: []string{"resourcedefinition", "rd", "rds"},
		Short:   "List the resource types a node has",
		Long: `List the resource types of a node, like talosctl get rd: each type's
name, the aliases it is also known by (any of them works with get, in any
letter case) and what it holds.

With -o json: {"definitions":[{"type", "aliases", "description"}]} (plus
"node" with --nodes).`,
		Example: `  cairnctl get rd
  cairnctl -n worker1 get resourcedefinitions -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return listDefinitions(cmd.Context(), g) },
	}
}

func listDefinitions(ctx context.Context, g *globals) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	results := fanOut(ctx, c, t.nodes, func(ctx context.Context, ep endpoint, node string) ([]*resourcev1.ResourceDefinition, error) {
		res, err := ep.resource.ListDefinitions(ctx, request(&resourcev1.ListDefinitionsRequest{}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetDefinitions(), nil
	})
	if err := endpointError(results); err != nil {
		return err
	}
	perNode := len(t.nodes) > 0
	if g.structured() {
		items := []any{}
		for _, r := range results {
			for _, d := range r.val {
				obj := protoObject(d).(orderedObject)
				if perNode {
					obj = obj.with("node", r.node)
				}
				items = append(items, obj)
			}
		}
		if err := g.printData(orderedObject{{"definitions", items}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	tab := newTable("TYPE", "ALIASES", "DESCRIPTION")
	if perNode {
		tab.prependColumn("NODE")
	}
	for _, r := range results {
		for _, d := range r.val {
			row := []string{d.GetType(), orDash(strings.Join(d.GetAliases(), ",")), orDash(d.GetDescription())}
			if perNode {
				row = append([]string{r.node}, row...)
			}
			tab.add(row...)
		}
	}
	if err := tab.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}
