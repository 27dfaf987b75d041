package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// configDoc is the machine-readable output of config get.
type configDoc struct {
	Revision uint64 `json:"revision"`
	Version  uint64 `json:"version"`
	Config   string `json:"config"`
}

func newConfigCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change the cluster configuration; manage client configs",
		Long: `Read and change the one cluster configuration that the control planes
replicate through Raft. Every change is validated first; invalid ones are
rejected with the offending field paths. Changes are compare-and-set when
--expected-revision is given (edit and patch always use it).

'config new' issues client configs with scoped certificates; 'config pem'
writes the current context's certificates for other API clients.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newConfigGetCommand(g), newConfigApplyCommand(g), newConfigEditCommand(g), newConfigPatchCommand(g),
		newConfigNewCommand(g), newConfigPEMCommand(g))
	return cmd
}

func newConfigGetCommand(g *globals) *cobra.Command {
	var includeSecrets, stale bool
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Print the cluster configuration",
		Long: `Print the cluster configuration as YAML, secrets redacted unless
--include-secrets is given. With -o json or -o yaml it prints
{"revision": N, "version": N, "config": "<yaml>"}.

The read is linearizable (served by the Raft leader) unless --stale asks the
node for its local replica, which also answers during a partition.`,
		Example: `  cairnctl config get > cluster.yaml
  cairnctl config get -o json | jq .revision
  cairnctl -n cp2 config get --stale`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			node, err := singleNode(t, "config get")
			if err != nil {
				return err
			}
			res, err := getConfig(cmd.Context(), c, node, &clusterv1.GetConfigRequest{Stale: stale, IncludeSecrets: includeSecrets})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(configDoc{Revision: res.GetRevision(), Version: res.GetVersion(), Config: res.GetConfig()})
			}
			_, err = fmt.Fprint(g.streams.Out, ensureNewline(res.GetConfig()))
			return err
		},
	}
	cmd.Flags().BoolVar(&includeSecrets, "include-secrets", false, "include secrets instead of redacting them")
	cmd.Flags().BoolVar(&stale, "stale", false, "read the node's local replica instead of the leader's")
	return cmd
}

// getConfig calls GetConfig on node (through the endpoint).
func getConfig(ctx context.Context, c *apiClient, node string, req *clusterv1.GetConfigRequest) (*clusterv1.GetConfigResponse, error) {
	var res *clusterv1.GetConfigResponse
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := ep.cluster.GetConfig(ctx, request(req, node))
		if err == nil {
			res = r.Msg
		}
		return err
	})
	return res, err
}

// singleNode returns the one node a single-answer command asks, or "" for
// the endpoint itself.
func singleNode(t target, command string) (string, error) {
	switch len(t.nodes) {
	case 0:
		return "", nil
	case 1:
		return t.nodes[0], nil
	}
	return "", fmt.Errorf("%w: %s asks one node, got %d (%s); pass -n NODE", ErrUsage, command, len(t.nodes), strings.Join(t.nodes, ","))
}

func ensureNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}
