package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
)

func newGossipCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gossip",
		Short: "Manage the gossip encryption keyring",
		Long: `Gossip between nodes is encrypted with AES-GCM and labelled with the cluster
ID. These commands show each node's keys and rotate the key cluster-wide.`,
		Example: `  cairnctl gossip keyring
  cairnctl gossip rotate-key`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newGossipKeyringCommand(g), newGossipRotateCommand(g))
	return cmd
}

func newGossipKeyringCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keyring",
		Short: "List each node's gossip keys (by ID; keys are never shown)",
		Long: `List, for every alive node (or those named with --nodes), the ID of the key it
encrypts with and of every key it accepts. IDs are short hashes: the keys
themselves never leave the nodes.`,
		Example: `  cairnctl gossip keyring
  cairnctl -n cp1,worker1 gossip keyring -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			nodes := t.nodes
			if len(nodes) == 0 {
				if nodes, err = aliveMembers(cmd.Context(), c); err != nil {
					return err
				}
			}
			results := fanOut(cmd.Context(), c, nodes, func(ctx context.Context, ep endpoint, node string) (*securityv1.GossipKeyringResponse, error) {
				res, err := ep.security.GossipKeyring(ctx, request(&securityv1.GossipKeyringRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err := endpointError(results); err != nil {
				return err
			}
			if g.structured() {
				var items []any
				for _, r := range results {
					if r.err == nil {
						items = append(items, orderedObject{{"node", r.node}, {"primary", r.val.PrimaryKeyId}, {"keys", r.val.KeyIds}})
					}
				}
				if err := g.printData(orderedObject{{"nodes", items}}); err != nil {
					return err
				}
				return nodeErrors(g.streams.Err, results)
			}
			tab := newTable("NODE", "PRIMARY", "KEYS")
			for _, r := range results {
				if r.err == nil {
					tab.add(r.node, r.val.PrimaryKeyId, strings.Join(r.val.KeyIds, ","))
				}
			}
			if err := tab.write(g.streams.Out); err != nil {
				return err
			}
			return nodeErrors(g.streams.Err, results)
		},
	}
}

func newGossipRotateCommand(g *globals) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the cluster's gossip key on every node, without a partition",
		Long: `Rotate the gossip encryption key of every alive node, in the order that never
splits the cluster: install the new key everywhere (both keys decrypt), make it
the primary everywhere, store it in the cluster config (so nodes that boot from
` + "`config get --include-secrets`" + ` get it), then remove the old key everywhere.
Each node keeps its keyring across restarts. A node that is down during the
rotation cannot rejoin with the old key: give it the new cluster config.
If a step fails, the command stops and says which; before the last step both
keys still work, so it is safe to run again.`,
		Example: `  cairnctl gossip rotate-key
  cairnctl gossip rotate-key --key "$(head -c32 /dev/urandom | base64)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			return rotateGossipKey(cmd.Context(), c, key, g.streams.Out)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the new key, base64 of 32 bytes (default: generated)")
	return cmd
}

// aliveMembers lists the names of the nodes gossip reports alive.
func aliveMembers(ctx context.Context, c *apiClient) ([]string, error) {
	var names []string
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		res, err := ep.cluster.Members(ctx, request(&clusterv1.MembersRequest{}, ""))
		if err != nil {
			return err
		}
		for _, m := range res.Msg.Members {
			if m.GossipState == clusterv1.GossipState_GOSSIP_STATE_ALIVE {
				names = append(names, m.Name)
			}
		}
		return nil
	})
	return names, err
}

// onEveryNode runs one keyring step on every node, stopping at the first failure.
func onEveryNode(ctx context.Context, c *apiClient, nodes []string, step string, out io.Writer, fn func(context.Context, endpoint, string) error) error {
	results := fanOut(ctx, c, nodes, func(ctx context.Context, ep endpoint, node string) (struct{}, error) {
		return struct{}{}, fn(ctx, ep, node)
	})
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("%s on %s: %w", step, r.node, r.err)
		}
	}
	fmt.Fprintf(out, "✓ %s on %d nodes\n", step, len(nodes))
	return nil
}

func rotateGossipKey(ctx context.Context, c *apiClient, newKey string, out io.Writer) error {
	if newKey == "" {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		newKey = base64.StdEncoding.EncodeToString(raw)
	}
	nodes, err := aliveMembers(ctx, c)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	var cur *clusterv1.GetConfigResponse
	if err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		res, err := ep.cluster.GetConfig(ctx, request(&clusterv1.GetConfigRequest{IncludeSecrets: true}, ""))
		if err == nil {
			cur = res.Msg
		}
		return err
	}); err != nil {
		return fmt.Errorf("read the cluster config: %w", err)
	}
	cfg, err := config.Parse([]byte(cur.Config))
	if err != nil {
		return err
	}
	oldKey := cfg.Secrets.GossipKey
	if err := onEveryNode(ctx, c, nodes, "install the new key", out, func(ctx context.Context, ep endpoint, n string) error {
		_, err := ep.security.InstallGossipKey(ctx, request(&securityv1.InstallGossipKeyRequest{Key: newKey}, n))
		return err
	}); err != nil {
		return err
	}
	if err := onEveryNode(ctx, c, nodes, "make it the primary", out, func(ctx context.Context, ep endpoint, n string) error {
		_, err := ep.security.UseGossipKey(ctx, request(&securityv1.UseGossipKeyRequest{Key: newKey}, n))
		return err
	}); err != nil {
		return err
	}
	cfg.Secrets.GossipKey = newKey
	doc, err := cfg.Marshal(false)
	if err != nil {
		return err
	}
	if err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		_, err := ep.cluster.ApplyConfig(ctx, request(&clusterv1.ApplyConfigRequest{
			Config: string(doc), ExpectedRevision: cur.Revision, RequestId: "gossip-rotate-" + newKey[:8],
		}, ""))
		return err
	}); err != nil {
		return fmt.Errorf("store the new key in the cluster config (both keys still work; run again): %w", err)
	}
	fmt.Fprintln(out, "✓ stored the new key in the cluster config")
	return onEveryNode(ctx, c, nodes, "remove the old key", out, func(ctx context.Context, ep endpoint, n string) error {
		_, err := ep.security.RemoveGossipKey(ctx, request(&securityv1.RemoveGossipKeyRequest{Key: oldKey}, n))
		return err
	})
}
