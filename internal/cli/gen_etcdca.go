package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func newGenEtcdCACommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "etcd-ca FILE",
		Short: "Add an etcd CA to a cluster configuration that has none",
		Long: `Generate a new etcd CA (ECDSA P-256, valid for 10 years) and write it into
secrets.etcdCA of the cluster configuration FILE, which must hold the real
secrets (cluster.yaml, or 'cairnctl config get --include-secrets'), not
redacted ones. The etcd CA signs etcd's peer, server and client
certificates only; it is separate from the cluster CA (secrets.ca).

'cairnctl gen config' already creates one: this is for a configuration
written before the etcd CA existed, which no longer validates. FILE is
rewritten in canonical form (comments are dropped), owner-only; nothing is
written if FILE already has an etcd CA or is invalid for another reason.
On a running cluster, store the result with 'cairnctl config apply -f FILE'
and boot the nodes from the same file.`,
		Example: `  cairnctl gen etcd-ca mycluster/cluster.yaml
  cairnctl config apply -f mycluster/cluster.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runGenEtcdCA(g, args[0])
		},
	}
}

func runGenEtcdCA(g *globals, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read cluster config: %w", err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return err
	}
	if cfg.Secrets.EtcdCA != (config.CertKeyPair{}) {
		return fmt.Errorf("%w: %s already has secrets.etcdCA; it is not replaced (etcd would no longer trust its members)", ErrUsage, path)
	}
	ca, err := config.NewEtcdCA(nil, cfg.Cluster.Name, time.Now())
	if err != nil {
		return err
	}
	cfg.Secrets.EtcdCA = ca
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	doc, err := cfg.Marshal(false)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, doc, 0o600); err != nil {
		return err
	}
	out := g.streams.Out
	fmt.Fprintf(out, "added secrets.etcdCA to %s (contains secrets: keep it private)\n", path)
	fmt.Fprintf(out, "on a running cluster, store it with:\n  cairnctl config apply -f %s\n", path)
	return nil
}
