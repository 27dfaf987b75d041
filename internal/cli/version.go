package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/internal/version"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

func newVersionCommand(g *globals) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and each node's",
		Long: `Print cairnctl's version and, when an endpoint is configured and
reachable, the version of the endpoint's node or of each node named with
--nodes. Without a configured cluster (no context or endpoints) only the
client's version is printed, and that is not an error; a node that does
not answer is reported, after the others' versions, and makes the exit
code 1.

With -o json: {"client": {...}, "nodes": [VersionResponse...]}.`,
		Example: `  cairnctl version
  cairnctl version --client
  cairnctl -n cp1,cp2,worker1 version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), g, clientOnly)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client's version only")
	return cmd
}

func runVersion(ctx context.Context, g *globals, clientOnly bool) error {
	client := orderedObject{
		{"version", version.Version}, {"goVersion", runtime.Version()}, {"gitCommit", version.Commit()},
	}
	var results []nodeResult[*machinev1.VersionResponse]
	var reachErr error
	if !clientOnly {
		if c, t, err := g.client(); err != nil {
			reachErr = err
		} else {
			defer c.Close()
			results = fanOut(ctx, c, t.nodes, func(ctx context.Context, ep endpoint, node string) (*machinev1.VersionResponse, error) {
				res, err := ep.machine.Version(ctx, request(&machinev1.VersionRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
		}
	}
	if g.structured() {
		nodes := []any{}
		for _, r := range results {
			if r.err == nil {
				nodes = append(nodes, protoObject(r.val))
			}
		}
		if err := g.printData(orderedObject{{"client", client}, {"nodes", nodes}}); err != nil {
			return err
		}
	} else {
		printVersionTable(g, results)
	}
	if reachErr != nil {
		fmt.Fprintf(g.streams.Err, "server: %v\n", reachErr)
	}
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			fmt.Fprintf(g.streams.Err, "server %s: %v\n", nodeLabel(r.node), r.err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrNodeFailed, failed, len(results))
	}
	return nil
}

func printVersionTable(g *globals, results []nodeResult[*machinev1.VersionResponse]) {
	out := g.streams.Out
	fmt.Fprintf(out, "Client:\n  Version:  %s\n  Go:       %s\n  Commit:   %s\n", version.Version, runtime.Version(), orDash(version.Commit()))
	t := newTable("NODE", "VERSION", "MODE", "SLOT", "GO", "COMMIT")
	n := 0
	for _, r := range results {
		if r.err == nil {
			v := r.val
			t.add(v.GetNodeName(), v.GetVersion(), v.GetMode(), v.GetSlot(), v.GetGoVersion(), v.GetGitCommit())
			n++
		}
	}
	if n > 0 {
		fmt.Fprintln(out, "Server:")
		_ = t.write(out)
	}
}

func nodeLabel(node string) string {
	if node == "" {
		return "(endpoint)"
	}
	return node
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
