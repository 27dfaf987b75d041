package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// applyResult is the machine-readable output of config apply, edit and
// patch.
type applyResult struct {
	Revision     uint64   `json:"revision"`
	Changed      bool     `json:"changed"`
	Diff         string   `json:"diff"`
	DryRun       bool     `json:"dryRun"`
	RemovedNodes []string `json:"removedNodes,omitempty"`
}

// applyOptions are the flags shared by config apply, edit and patch.
type applyOptions struct {
	expectedRevision uint64
	dryRun           bool
}

func (o *applyOptions) register(cmd *cobra.Command, expectedHelp string) {
	cmd.Flags().Uint64Var(&o.expectedRevision, "expected-revision", 0, expectedHelp)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "validate and show the diff without applying")
}

func newConfigApplyCommand(g *globals) *cobra.Command {
	var file string
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Replace the cluster configuration with a file",
		Long: `Validate FILE and make it the cluster configuration. Redacted secrets
("***redacted***", as config get prints them) keep their current values, so
the output of config get can be edited and applied back.

Prints "applied revision N", or "no changes" if FILE equals the current
configuration; with --dry-run it prints the diff and applies nothing. With
-o json: {"revision":N,"changed":bool,"diff":"...","dryRun":bool}.`,
		Example: `  cairnctl config get > c.yaml && $EDITOR c.yaml
  cairnctl config apply -f c.yaml --dry-run
  cairnctl config apply -f c.yaml --expected-revision 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := readDocument(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			node, err := singleNode(t, "config apply")
			if err != nil {
				return err
			}
			res, err := applyConfig(cmd.Context(), c, node, doc, o)
			if err != nil {
				return err
			}
			return g.printApplyResult(res)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `configuration file to apply ("-" for stdin)`)
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml", "json")
	o.register(cmd, "apply only if the configuration's revision is still N (0: unconditionally)")
	return cmd
}

// applyConfig calls ApplyConfig with a fresh request ID, which makes moving
// on to another endpoint after an unknown outcome safe. A document larger
// than a node accepts (a patch can grow one) is refused without sending.
func applyConfig(ctx context.Context, c *apiClient, node string, doc []byte, o applyOptions) (*clusterv1.ApplyConfigResponse, error) {
	if len(doc) > config.MaxDocumentBytes {
		return nil, tooLargeError("the configuration", config.FormatBytes(len(doc)))
	}
	req := &clusterv1.ApplyConfigRequest{
		Config: string(doc), ExpectedRevision: o.expectedRevision, DryRun: o.dryRun, RequestId: newRequestID(),
	}
	var res *clusterv1.ApplyConfigResponse
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := ep.cluster.ApplyConfig(ctx, request(req, node))
		if err == nil {
			res = r.Msg
		}
		return err
	})
	return res, err
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cairnctl-" + hex.EncodeToString(b[:])
}

// printApplyResult reports an apply: the revision, or the diff on a dry run.
func (g *globals) printApplyResult(res *clusterv1.ApplyConfigResponse) error {
	if g.structured() {
		return g.printData(applyResult{
			Revision: res.GetRevision(), Changed: res.GetChanged(), Diff: res.GetDiff(), DryRun: res.GetDryRun(),
			RemovedNodes: res.GetRemovedNodes(),
		})
	}
	out := g.streams.Out
	switch {
	case !res.GetChanged():
		fmt.Fprintln(out, "no changes")
	case res.GetDryRun():
		fmt.Fprint(out, ensureNewline(res.GetDiff()))
		for _, n := range res.GetRemovedNodes() {
			fmt.Fprintf(out, "would remove node %s from the cluster\n", n)
		}
		fmt.Fprintf(out, "dry run: nothing applied (current revision %d)\n", res.GetRevision())
	default:
		fmt.Fprintf(out, "applied revision %d\n", res.GetRevision())
		for _, n := range res.GetRemovedNodes() {
			fmt.Fprintf(out, "removing node %s from the cluster: it leaves gossip and Raft, and stops\n", n)
		}
	}
	return nil
}
