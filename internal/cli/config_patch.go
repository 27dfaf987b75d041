package cli

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// patchAttempts bounds how often config patch re-reads and re-applies after
// someone else changed the configuration in between.
const patchAttempts = 3

func newConfigPatchCommand(g *globals) *cobra.Command {
	var patch, patchFile string
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "patch (--patch PATCH | --patch-file FILE)",
		Short: "Change the cluster configuration with a JSON merge patch",
		Long: `Apply an RFC 7386 JSON merge patch, written as JSON or YAML, to the
cluster configuration: keys in the patch replace or merge into the
configuration, null deletes a key, and lists are replaced whole.

The write is conditional on the revision that was read; if someone else
changed the configuration in between, the patch is re-applied to the new
configuration (up to 3 times), unless --expected-revision pins the revision.`,
		Example: `  cairnctl config patch --patch '{"cluster":{"kubernetes":{"version":"1.38.0"}}}'
  cairnctl config patch --patch 'cluster: {seeds: null}' --dry-run
  cairnctl config patch --patch-file upgrade.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := []byte(patch)
			if patchFile != "" {
				var err error
				if p, err = readDocument(cmd.InOrStdin(), patchFile); err != nil {
					return err
				}
			}
			return runConfigPatch(cmd.Context(), g, p, o)
		},
	}
	cmd.Flags().StringVar(&patch, "patch", "", "merge patch as JSON or YAML")
	cmd.Flags().StringVar(&patchFile, "patch-file", "", `file holding the merge patch ("-" for stdin)`)
	cmd.MarkFlagsOneRequired("patch", "patch-file")
	cmd.MarkFlagsMutuallyExclusive("patch", "patch-file")
	_ = cmd.MarkFlagFilename("patch-file", "yaml", "yml", "json")
	o.register(cmd, "patch only if the configuration's revision is N (default: the revision read)")
	return cmd
}

func runConfigPatch(ctx context.Context, g *globals, patch []byte, o applyOptions) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	node, err := singleNode(t, "config patch")
	if err != nil {
		return err
	}
	pinned := o.expectedRevision != 0
	for attempt := 1; ; attempt++ {
		cur, err := getConfig(ctx, c, node, &clusterv1.GetConfigRequest{})
		if err != nil {
			return err
		}
		doc, err := mergePatchYAML([]byte(cur.GetConfig()), patch)
		if err != nil {
			return err
		}
		ao := o
		if !pinned {
			ao.expectedRevision = cur.GetRevision()
		}
		res, err := applyConfig(ctx, c, node, doc, ao)
		if err == nil {
			return g.printApplyResult(res)
		}
		if pinned || attempt == patchAttempts || !isConflict(err) {
			return err
		}
		fmt.Fprintf(g.streams.Err, "configuration changed during the patch (revision %d); retrying\n", cur.GetRevision())
	}
}

// isConflict reports whether err is a revision conflict.
func isConflict(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeAborted
}
