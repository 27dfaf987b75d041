// Package kubeconfig writes and merges kubeconfig files, the client
// configuration of kubectl and every Kubernetes client, through client-go's
// own loader and types (k8s.io/client-go/tools/clientcmd), so what it reads
// and writes is exactly what kubectl does.
//
// Build makes the admin kubeconfig a node hands out (cairn.kubernetes.v1
// Kubeconfig), named as talosctl names it; Merge folds such a file into a
// user's existing one (cairnctl kubeconfig), renaming what would clash as
// talosctl does. Neither touches the file system.
package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrInvalid is returned by Build for parameters that cannot make a working
// kubeconfig, and by Merge for input that is not a kubeconfig.
var ErrInvalid = errors.New("invalid kubeconfig")

// Params is what an admin kubeconfig is made of.
type Params struct {
	// Cluster is the Cairn cluster's name (cluster.name); it names the
	// kubeconfig's cluster, and "admin@<Cluster>" its user and context.
	Cluster string
	// Server is the Kubernetes API URL, https://host:port.
	Server string
	// CA is the PEM certificate of the Kubernetes CA, which signed the API
	// server's certificate.
	CA []byte
	// Cert and Key are the PEM client certificate and its private key.
	Cert, Key []byte
}

// UserName is the name of the user, and of the context, that Build writes
// for a cluster: "admin@<cluster>", as talosctl names them.
func UserName(cluster string) string { return "admin@" + cluster }

// Build returns the kubeconfig of p as YAML: one cluster named p.Cluster,
// one user and one context named UserName(p.Cluster) in namespace
// "default", that context current, and the CA, certificate and key
// embedded (certificate-authority-data, client-certificate-data,
// client-key-data) so the file stands alone. p is checked first: a server
// that is not an https URL with a host, a CA that holds no certificate, or
// a key that does not match the certificate fails with ErrInvalid.
func Build(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	name := UserName(p.Cluster)
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = p.Server
	cluster.CertificateAuthorityData = p.CA
	cfg.Clusters[p.Cluster] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = p.Cert
	user.ClientKeyData = p.Key
	cfg.AuthInfos[name] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = p.Cluster
	kctx.AuthInfo = name
	kctx.Namespace = "default"
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	if err := clientcmd.Validate(*cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return out, nil
}

// check validates p as Build documents.
func (p Params) check() error {
	if p.Cluster == "" {
		return fmt.Errorf("%w: the cluster name is empty", ErrInvalid)
	}
	u, err := url.Parse(p.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%w: server %q is not an https://host:port URL", ErrInvalid, p.Server)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(p.CA) {
		return fmt.Errorf("%w: the CA holds no PEM certificate", ErrInvalid)
	}
	if _, err := tls.X509KeyPair(p.Cert, p.Key); err != nil {
		return fmt.Errorf("%w: client certificate and key: %w", ErrInvalid, err)
	}
	return nil
}
