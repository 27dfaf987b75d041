package cli

import (
	"context"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
)

// rdHint points from an unknown resource type to the command that lists
// the known ones.
const rdHint = "'cairnctl get rd' lists the resource types with their aliases; 'cairnctl get members' lists the cluster's nodes"

// The scopes of resource types: a node's own, or the cluster's (in Raft).
const (
	scopeNode    = "node"
	scopeCluster = "cluster"
)

func newGetDefinitionsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "resourcedefinitions",
		Aliases: []string{"resourcedefinition", "rd", "rds"},
		Short:   "List the resource types: a node's own and the cluster's",
		Long: `List the resource types, like talosctl get rd: each type's scope, its
name, the aliases it is also known by (any of them works with get, in any
letter case) and what it holds. Scope "node" types are a node's own
controller inputs and outputs (ResourceService); scope "cluster" types are
the records replicated in Raft (ClusterResourceService), the same on every
node. No name belongs to both scopes.

With -o json: {"definitions":[{"scope", "type", "aliases", "description",
"writable"}]} (plus "node" with --nodes); writable says whether the cluster
resource API accepts writes of the type.`,
		Example: `  cairnctl get rd
  cairnctl -n worker1 get resourcedefinitions -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return listDefinitions(cmd.Context(), g) },
	}
}

// definitionRow is one type of either scope.
type definitionRow struct {
	scope, typ, description string
	aliases                 []string
	writable                bool
}

// fetchDefinitions asks one node for both scopes' types, ordered by name
// ignoring case. A node that predates the cluster resource service has
// only node types.
func fetchDefinitions(ctx context.Context, ep endpoint, node string) ([]definitionRow, error) {
	res, err := ep.resource.ListDefinitions(ctx, request(&resourcev1.ListDefinitionsRequest{}, node))
	if err != nil {
		return nil, err
	}
	var rows []definitionRow
	for _, d := range res.Msg.GetDefinitions() {
		rows = append(rows, definitionRow{scope: scopeNode, typ: d.GetType(), description: d.GetDescription(), aliases: d.GetAliases()})
	}
	cres, err := ep.clusterResource.ListResourceDefinitions(ctx, request(&clusterv1.ListResourceDefinitionsRequest{}, node))
	switch {
	case connect.CodeOf(err) == connect.CodeUnimplemented:
	case err != nil:
		return nil, err
	default:
		for _, d := range cres.Msg.GetDefinitions() {
			rows = append(rows, definitionRow{scope: scopeCluster, typ: d.GetType(), description: d.GetDescription(), aliases: d.GetAliases(), writable: d.GetWritable()})
		}
	}
	slices.SortStableFunc(rows, func(a, b definitionRow) int {
		return strings.Compare(strings.ToLower(a.typ), strings.ToLower(b.typ))
	})
	return rows, nil
}

func listDefinitions(ctx context.Context, g *globals) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	results := fanOut(ctx, c, t.nodes, fetchDefinitions)
	if err := endpointError(results); err != nil {
		return err
	}
	perNode := len(t.nodes) > 0
	if g.structured() {
		items := []any{}
		for _, r := range results {
			for _, d := range r.val {
				obj := orderedObject{
					{"scope", d.scope}, {"type", d.typ}, {"aliases", orEmpty(d.aliases)},
					{"description", d.description}, {"writable", d.writable},
				}
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
	tab := newTable("SCOPE", "TYPE", "ALIASES", "DESCRIPTION")
	if perNode {
		tab.prependColumn("NODE")
	}
	for _, r := range results {
		for _, d := range r.val {
			row := []string{d.scope, d.typ, orDash(strings.Join(d.aliases, ",")), orDash(d.description)}
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

// orEmpty is s, or an empty list instead of null in JSON.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
