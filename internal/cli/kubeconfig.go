package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-project/cairn/internal/kubeconfig"
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// kubeconfigFile is the file name written into a directory, and the
// default path of --merge=false.
const kubeconfigFile = "kubeconfig"

// defaultKubeconfigTTL is the default lifetime of the certificate, a year,
// as talosctl's admin kubeconfig.
const defaultKubeconfigTTL = 365 * 24 * time.Hour

type kubeconfigOptions struct {
	merge bool
	force bool
	ttl   time.Duration
}

func newKubeconfigCommand(g *globals) *cobra.Command {
	o := kubeconfigOptions{}
	cmd := &cobra.Command{
		Use:   "kubeconfig [LOCAL-PATH]",
		Short: "Download an admin kubeconfig for the cluster's Kubernetes",
		Long: `Ask a control plane (the endpoint's node, or the one node named with -n)
for a kubeconfig with a new cluster-admin client certificate, like
'talosctl kubeconfig', and save it.

By default it is merged into LOCAL-PATH, else into the first file of
$KUBECONFIG, else into ~/.kube/config (created, with its directory, if
missing). The file keeps every other cluster, user and context it has; the
new context "admin@CLUSTER" becomes the current one. Entries of the same
name that differ are not touched: the new ones are added as NAME-1, NAME-2,
… (each renaming is printed) unless --force, which replaces them.

With --merge=false the kubeconfig is written as is to LOCAL-PATH, default
./kubeconfig; an existing file is replaced only with --force. A LOCAL-PATH
that is a directory means DIR/kubeconfig. LOCAL-PATH "-" writes it to
standard output. What was written goes to standard error.

Files are written owner-only (0600) and replaced atomically. Each call
mints a new certificate, valid for --ttl; it cannot be revoked before it
expires, so prefer a short ttl for a kubeconfig that leaves your machine.
Needs os:admin. A worker has no kubeconfig to give (FailedPrecondition):
ask a control plane with -n.

With -o json: {"path", "context", "server", "expires", "renamed"}.`,
		Example: `  cairnctl kubeconfig                      # merge into ~/.kube/config (or $KUBECONFIG)
  cairnctl -n cp1 kubeconfig --ttl 24h     # from one control plane, valid for a day
  cairnctl kubeconfig --force              # replace an older admin@CLUSTER instead of adding admin@CLUSTER-1
  cairnctl kubeconfig --merge=false .      # write ./kubeconfig
  cairnctl kubeconfig - > demo.kubeconfig  # to standard output`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKubeconfig(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.merge, "merge", "m", true, "merge into an existing kubeconfig; false writes the file as is")
	f.BoolVarP(&o.force, "force", "f", false, "replace entries of the same name when merging, or an existing file with --merge=false")
	f.DurationVar(&o.ttl, "ttl", defaultKubeconfigTTL, "lifetime of the client certificate")
	return cmd
}

func runKubeconfig(cmd *cobra.Command, g *globals, o kubeconfigOptions, args []string) error {
	if o.ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be positive", ErrUsage)
	}
	toStdout := len(args) == 1 && args[0] == "-"
	if toStdout && g.structured() {
		return fmt.Errorf("%w: -o %s with LOCAL-PATH -: standard output holds the kubeconfig", ErrUsage, g.output)
	}
	path := ""
	if !toStdout {
		var err error
		if path, err = kubeconfigPath(args, o.merge); err != nil {
			return err
		}
		if !o.merge && !o.force {
			if _, err := os.Stat(path); err == nil {
				return withHint(fmt.Errorf("%w: %s exists", ErrUsage, path),
					"pass --force to replace it, or merge into it (the default, without --merge=false)")
			}
		}
	}
	res, err := fetchKubeconfig(cmd.Context(), g, o.ttl)
	if err != nil {
		return withHint(err, kubeconfigHint(err))
	}
	added, err := clientcmd.Load(res.GetKubeconfig())
	if err != nil {
		return fmt.Errorf("the node sent no usable kubeconfig: %w", err)
	}
	if added.CurrentContext == "" {
		return errors.New("the node sent no usable kubeconfig: it has no current context")
	}
	current := added.CurrentContext
	var renamed map[string]string
	switch {
	case toStdout:
		if _, err := g.streams.Out.Write(res.GetKubeconfig()); err != nil {
			return fmt.Errorf("write kubeconfig: %w", err)
		}
	case o.merge:
		if renamed, err = mergeKubeconfig(path, res.GetKubeconfig(), o.force); err != nil {
			return err
		}
		if n, ok := renamed[kubeconfig.KindContext+"/"+current]; ok {
			current = n
		}
	default:
		if err := writeFileAtomic(path, res.GetKubeconfig(), 0o600); err != nil {
			return err
		}
	}
	reportKubeconfig(g, res, path, current, renamed, o.merge && !toStdout)
	if g.structured() {
		return g.printData(orderedObject{
			{"path", path}, {"context", current}, {"server", res.GetServer()},
			{"expires", formatExpiry(res)}, {"renamed", renamedObject(renamed)},
		})
	}
	return nil
}

// kubeconfigPath is where the kubeconfig goes: LOCAL-PATH, else (merging)
// the first file of $KUBECONFIG or ~/.kube/config, else ./kubeconfig; a
// directory means a file named kubeconfig in it. A symbolic link is
// followed, so that the atomic replace writes the file it points at
// rather than replacing the link.
func kubeconfigPath(args []string, merge bool) (string, error) {
	var path string
	switch {
	case len(args) == 1 && args[0] != "":
		path = args[0]
	case !merge:
		path = kubeconfigFile
	default:
		var err error
		if path, err = defaultKubeconfigPath(); err != nil {
			return "", err
		}
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, kubeconfigFile)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(path); err == nil {
			path = target
		}
	}
	return filepath.Clean(path), nil
}

// defaultKubeconfigPath is the file kubectl changes: the first entry of
// $KUBECONFIG, else ~/.kube/config.
func defaultKubeconfigPath() (string, error) {
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p != "" {
			return p, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the kubeconfig: %w", err)
	}
	return filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName), nil
}

// fetchKubeconfig asks the endpoint's node, or the one node named, for an
// admin kubeconfig.
func fetchKubeconfig(ctx context.Context, g *globals, ttl time.Duration) (*kubernetesv1.KubeconfigResponse, error) {
	c, t, err := g.client()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	node, err := singleNode(t, "kubeconfig")
	if err != nil {
		return nil, err
	}
	var res *kubernetesv1.KubeconfigResponse
	err = c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := c.kubernetesService(ep).Kubeconfig(ctx, request(&kubernetesv1.KubeconfigRequest{Ttl: durationpb.New(ttl)}, node))
		if err != nil {
			return err
		}
		res = r.Msg
		return nil
	})
	return res, err
}

// kubernetesService is the Kubernetes service client of ep, made per call
// as etcdService is.
func (c *apiClient) kubernetesService(ep endpoint) kubernetesv1connect.KubernetesServiceClient {
	opts := connect.WithClientOptions(connect.WithGRPC(), connect.WithSendMaxBytes(maxRequestBytes))
	return kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: c.transport}, "https://"+ep.addr, opts)
}

// kubeconfigHint says what to do about a refusal, or "" to keep the
// generic hints (roles, TLS).
func kubeconfigHint(err error) string {
	switch connect.CodeOf(err) {
	case connect.CodeFailedPrecondition:
		return "name a control plane with -n (cairnctl get members lists them)"
	case connect.CodeUnimplemented:
		return "the node predates the Kubernetes API; upgrade it, or ask another control plane with -n"
	}
	return errorHint(err)
}

// mergeKubeconfig merges data into the kubeconfig at path (none yet: an
// empty one) and writes the result back, owner-only.
func mergeKubeconfig(path string, data []byte, force bool) (map[string]string, error) {
	existing, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	merged, renamed, err := kubeconfig.Merge(existing, data, force)
	if err != nil {
		return nil, fmt.Errorf("merge into %s: %w", path, err)
	}
	if err := writeFileAtomic(path, merged, 0o600); err != nil {
		return nil, err
	}
	return renamed, nil
}

// reportKubeconfig tells on standard error what was written where, and
// what was renamed.
func reportKubeconfig(g *globals, res *kubernetesv1.KubeconfigResponse, path, current string, renamed map[string]string, merged bool) {
	w := g.streams.Err
	for _, kind := range []string{kubeconfig.KindCluster, kubeconfig.KindUser, kubeconfig.KindContext} {
		for _, key := range slices.Sorted(maps.Keys(renamed)) {
			if name, ok := strings.CutPrefix(key, kind+"/"); ok {
				fmt.Fprintf(w, "renamed %s %q to %q: a different %s has that name (--force replaces it instead)\n", kind, name, renamed[key], kind)
			}
		}
	}
	where := "written to standard output"
	switch {
	case path != "" && merged:
		where = "merged into " + path
	case path != "":
		where = "written to " + path
	}
	fmt.Fprintf(w, "kubeconfig %s: context %q (current), server %s, certificate valid until %s\n",
		where, current, orDash(res.GetServer()), orDash(formatExpiry(res)))
}

func formatExpiry(res *kubernetesv1.KubeconfigResponse) string {
	if res.GetExpires() == nil {
		return ""
	}
	return res.GetExpires().AsTime().UTC().Format(time.RFC3339)
}

// renamedObject is renamed for -o json, its keys in order.
func renamedObject(renamed map[string]string) orderedObject {
	out := orderedObject{}
	for _, k := range slices.Sorted(maps.Keys(renamed)) {
		out = append(out, objectField{k, renamed[k]})
	}
	return out
}
