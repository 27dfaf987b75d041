package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
)

// completionTimeout bounds what a completion asks the cluster: a shell
// waits for the answer while the user waits for the shell.
const completionTimeout = 2 * time.Second

// completionClient opens a client of the current context with the
// completion's timeout; nil when there is none (no context, no
// certificate): the completion then offers what it knows offline.
func (g *globals) completionClient() (*apiClient, target, context.Context, context.CancelFunc) {
	c, t, err := g.clientTimeout(completionTimeout)
	if err != nil {
		return nil, t, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	return c, t, ctx, cancel
}

// completeNodes offers node names for -n/--nodes: the cluster's members
// as the endpoint reports them, else the current context's nodes. A comma
// list is completed in its last element, the others kept as typed.
func (g *globals) completeNodes(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	typed := strings.Split(done, ",")
	var names []string
	if c, _, ctx, cancel := g.completionClient(); c != nil {
		defer cancel()
		defer c.Close()
		_ = c.call(ctx, func(ctx context.Context, ep endpoint) error {
			res, err := ep.cluster.Members(ctx, request(&clusterv1.MembersRequest{}, ""))
			if err != nil {
				return err
			}
			for _, m := range res.Msg.GetMembers() {
				names = append(names, m.GetName())
			}
			return nil
		})
	}
	if len(names) == 0 {
		if cfg, _, err := g.loadClientConfig(); err == nil {
			if ctx, _, err := cfg.Selected(g.context); err == nil && ctx != nil {
				names = append(names, ctx.Nodes...)
			}
		}
	}
	var out []string
	for _, n := range sortedUnique(names) {
		if strings.HasPrefix(n, last) && !slices.Contains(typed, n) {
			out = append(out, done+n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeTypes offers `get TYPE`: every type of both scopes and its
// aliases, as the endpoint (or the one -n node) lists them, with the
// subcommands get has of its own.
func (g *globals) completeTypes(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := []string{"members", "resourcedefinitions"}
	if c, t, ctx, cancel := g.completionClient(); c != nil {
		defer cancel()
		defer c.Close()
		_ = c.call(ctx, func(ctx context.Context, ep endpoint) error {
			rows, err := fetchDefinitions(ctx, ep, firstOr(t.nodes, ""))
			for _, r := range rows {
				names = append(names, r.typ)
				names = append(names, r.aliases...)
			}
			return err
		})
	}
	return withPrefix(sortedUnique(names), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeServices offers the service names of the endpoint's node (or
// of the first -n node) for the commands that take one.
func (g *globals) completeServices(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	if c, t, ctx, cancel := g.completionClient(); c != nil {
		defer cancel()
		defer c.Close()
		_ = c.call(ctx, func(ctx context.Context, ep endpoint) error {
			res, err := ep.service.List(ctx, request(&servicev1.ListRequest{}, firstOr(t.nodes, "")))
			if err != nil {
				return err
			}
			for _, s := range res.Msg.GetServices() {
				names = append(names, s.GetName())
			}
			return nil
		})
	}
	return withPrefix(sortedUnique(names), toComplete), cobra.ShellCompDirectiveNoFileComp
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// withPrefix keeps the names that start with prefix, ignoring case (types
// are matched so).
func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(prefix)) {
			out = append(out, n)
		}
	}
	return out
}
