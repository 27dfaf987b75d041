package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// File names written by gen config and cluster create.
const (
	clusterConfigFile = "cluster.yaml"
	clientConfigFile  = "cairnconfig"
)

type genConfigOptions struct {
	controlPlanes     int
	workers           int
	subnet            int
	kubernetesVersion string
	withSecrets       string
	outDir            string
	force             bool
}

func newGenCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate configuration files",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newGenConfigCommand(g), newGenEtcdCACommand(g))
	return cmd
}

func newGenConfigCommand(g *globals) *cobra.Command {
	var o genConfigOptions
	cmd := &cobra.Command{
		Use:   "config NAME",
		Short: "Generate a cluster configuration and a matching client config",
		Long: `Generate a complete cluster configuration for a cluster on loopback
addresses 127.0.SUBNET.1, .2, … (control planes first), with fresh secrets,
and a client config whose context NAME points at the control planes.

It writes DIR/cluster.yaml (with secrets, mode 0600) and DIR/cairnconfig
(mode 0600), whose context holds the cluster CA certificate and an os:admin
client certificate (name "admin", valid for a year) signed by the cluster
CA: the node API accepts only TLS clients with such a certificate. Hand out
narrower ones with 'cairnctl config new'. Every node boots from the same cluster.yaml:
  cairnd --config DIR/cluster.yaml --name cp1 --state-dir …

--with-secrets reuses the secrets (and cluster ID) of an existing
cluster.yaml, or of a YAML file holding only the secrets section, so that
the regenerated file belongs to the same cluster; secrets from before the
etcd CA existed get a new one.`,
		Example: `  # Three control planes and two workers on 127.0.5.0/24, in ./mycluster.
  cairnctl gen config demo --workers 2 --subnet 5 -o mycluster

  # Regenerate with the same secrets, for a new Kubernetes version.
  cairnctl gen config demo --with-secrets mycluster/cluster.yaml --kubernetes-version 1.38.0 -o new`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenConfig(g, args[0], o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.controlPlanes, "controlplanes", 3, "number of control-plane nodes")
	f.IntVar(&o.workers, "workers", 0, "number of worker nodes")
	f.IntVar(&o.subnet, "subnet", 1, "N of the loopback subnet 127.0.N.0/24 the nodes use (1-255)")
	f.StringVar(&o.kubernetesVersion, "kubernetes-version", config.DefaultKubernetesVersion, "Kubernetes version")
	f.StringVar(&o.withSecrets, "with-secrets", "", "reuse secrets from this cluster.yaml or secrets-only YAML file")
	// -o names a directory here; it shadows the global --output format.
	f.StringVarP(&o.outDir, "output", "o", ".", "directory to write cluster.yaml and cairnconfig to")
	f.BoolVar(&o.force, "force", false, "overwrite existing files")
	_ = cmd.MarkFlagFilename("with-secrets", "yaml", "yml")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

func runGenConfig(g *globals, name string, o genConfigOptions) error {
	opts := config.GenerateOptions{
		ClusterName: name, ControlPlanes: o.controlPlanes, Workers: o.workers,
		KubernetesVersion: o.kubernetesVersion, LoopbackSubnet: o.subnet,
	}
	if o.subnet < 1 || o.subnet > 255 {
		return fmt.Errorf("%w: --subnet %d is not 1-255", ErrUsage, o.subnet)
	}
	if o.withSecrets != "" {
		s, id, err := loadSecrets(o.withSecrets)
		if err != nil {
			return err
		}
		opts.Secrets, opts.ClusterID = s, id
	}
	if !o.force {
		for _, f := range []string{clusterConfigFile, clientConfigFile} {
			p := filepath.Join(o.outDir, f)
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %s exists; pass --force to overwrite it", ErrUsage, p)
			}
		}
	}
	cfg, err := config.Generate(opts)
	if err != nil {
		return err
	}
	paths, err := writeClusterFiles(o.outDir, cfg, nil)
	if err != nil {
		return err
	}
	out := g.streams.Out
	fmt.Fprintf(out, "wrote %s (contains secrets: keep it private)\n", paths.cluster)
	fmt.Fprintf(out, "wrote %s (context %q with an os:admin client certificate: keep it private)\n", paths.client, name)
	fmt.Fprintf(out, "\nstart each node with:\n  cairnd --config %s --name NODE --state-dir DIR\n", paths.cluster)
	fmt.Fprintf(out, "then:\n  cairnctl --cairnconfig %s get members\n", paths.client)
	return nil
}

// clusterFiles are the paths writeClusterFiles wrote, and the admin
// context it put into the client config.
type clusterFiles struct {
	cluster string
	client  string
	context Context
}

// writeClusterFiles writes dir/cluster.yaml (with secrets, owner-only) and
// dir/cairnconfig (owner-only), whose single context is named after the
// cluster, points at the control planes' API addresses (or at endpoints,
// when the host reaches them elsewhere: published ports, host forwards)
// and holds a new os:admin client certificate, valid for a year.
func writeClusterFiles(dir string, cfg *config.Config, endpoints []string) (clusterFiles, error) {
	doc, err := cfg.Marshal(false)
	if err != nil {
		return clusterFiles{}, err
	}
	admin, err := adminContext(cfg)
	if err != nil {
		return clusterFiles{}, err
	}
	if endpoints != nil {
		admin.Endpoints = endpoints
	}
	p := clusterFiles{cluster: filepath.Join(dir, clusterConfigFile), client: filepath.Join(dir, clientConfigFile), context: admin}
	if err := writeFileAtomic(p.cluster, doc, 0o600); err != nil {
		return clusterFiles{}, err
	}
	cc := &ClientConfig{}
	cc.Merge(cfg.Cluster.Name, admin, true)
	if err := WriteClientConfig(p.client, cc); err != nil {
		return clusterFiles{}, err
	}
	return p, nil
}

// controlPlaneEndpoints lists the control planes' API addresses.
func controlPlaneEndpoints(cfg *config.Config) []string {
	var out []string
	for _, n := range cfg.ControlPlanes() {
		out = append(out, n.APIEndpoint())
	}
	return out
}
