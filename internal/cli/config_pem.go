package cli

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// pemCAFile is the CA certificate file config pem writes.
const pemCAFile = "ca.pem"

// pemBaseName names the client certificate files after the certificate's
// common name (admin.pem and admin-key.pem for the admin identity of gen
// config), or "client" when that name does not make a plain file name.
func pemBaseName(crtPEM string) string {
	name := "client"
	if block, _ := pem.Decode([]byte(crtPEM)); block != nil {
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			name = c.Subject.CommonName
		}
	}
	ok := name != "" && name != "ca" && len(name) <= 64 && !strings.HasPrefix(name, ".")
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r))
	}
	if !ok {
		return "client"
	}
	return name
}

func newConfigPEMCommand(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "pem",
		Short: "Write the context's CA and client certificate as PEM files",
		Long: `Write the selected context's identity as PEM files for other API clients
(buf curl, grpcurl, curl): DIR/ca.pem (the cluster CA certificate),
DIR/NAME.pem (the client certificate) and DIR/NAME-key.pem (its private key,
owner-only), NAME being the certificate's name: admin for the certificate of
gen config and cluster create, else what 'config new --name' gave it ("client"
if that is not a plain file name). Existing files are replaced.`,
		Example: `  cairnctl config pem --dir ./pem
  buf curl --cacert pem/ca.pem --cert pem/admin.pem --key pem/admin-key.pem \
    https://127.0.10.1:6440/cairn.cluster.v1.ClusterService/GetConfig`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			t, err := g.target()
			if err != nil {
				return err
			}
			if _, err := t.tlsConfig(); err != nil {
				return err
			}
			return writePEMs(g, dir, t)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write the PEM files to")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

func writePEMs(g *globals, dir string, t target) error {
	base := pemBaseName(t.context.Crt)
	ca, crt, key := filepath.Join(dir, pemCAFile), filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")
	for _, f := range []struct {
		path, data string
		mode       fs.FileMode
	}{
		{ca, t.context.CA, 0o644},
		{crt, t.context.Crt, 0o644},
		{key, t.context.Key, 0o600},
	} {
		if err := writeFileAtomic(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	out := g.streams.Out
	fmt.Fprintf(out, "wrote %s, %s and %s (context %q: %s)\n", ca, crt, key, t.contextName, certSummary(t.context.Crt))
	fmt.Fprintf(out, "for example:\n  buf curl --cacert %s --cert %s --key %s https://%s/cairn.machine.v1.MachineService/Version\n",
		ca, crt, key, t.endpoints[0])
	return nil
}
