package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// errKubeletCertMismatch is returned by requestKubeletCert when the
// answer is not the certificate asked for.
var errKubeletCertMismatch = errors.New("kubelet certificate answer does not match the request")

// requestKubeletCert obtains this node's kubelet client certificate
// (system:node:NAME in system:nodes) without the Kubernetes CA key: a new
// ECDSA P-256 key, whose CSR client sends to KubeletCertificate. client
// must call with this node's own certificate (its Identity's ClientTLS),
// at this node's own API (a worker's forwards to a control plane) or a
// control plane's; the control plane signs only for the calling node. The
// answer is checked before it is returned: a certificate for this key and
// identity, for client auth, that chains to the returned CA.
func requestKubeletCert(ctx context.Context, client kubernetesv1connect.KubernetesServiceClient, nodeName string) (certPEM, keyPEM, caPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate kubelet key: %w", err)
	}
	subject := pkix.Name{CommonName: pki.KubeNodeUserPrefix + nodeName, Organization: []string{pki.KubeNodesGroup}}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kubelet certificate request: %w", err)
	}
	res, err := client.KubeletCertificate(ctx, connect.NewRequest(&kubernetesv1.KubeletCertificateRequest{
		Csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
	}))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kubelet certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode kubelet key: %w", err)
	}
	certPEM, caPEM = res.Msg.GetCrt(), res.Msg.GetCa()
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := checkKubeletCert(certPEM, keyPEM, caPEM, subject); err != nil {
		return nil, nil, nil, err
	}
	return certPEM, keyPEM, caPEM, nil
}

// checkKubeletCert checks a signed kubelet certificate against what was
// asked: the key, the subject, client auth, and the CA.
func checkKubeletCert(certPEM, keyPEM, caPEM []byte, subject pkix.Name) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %w", errKubeletCertMismatch, err)
	}
	cert := pair.Leaf
	if cert.Subject.CommonName != subject.CommonName || !slices.Equal(cert.Subject.Organization, subject.Organization) {
		return fmt.Errorf("%w: signed for %s in %q", errKubeletCertMismatch, cert.Subject.CommonName, cert.Subject.Organization)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%w: no CA certificate", errKubeletCertMismatch)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: %w", errKubeletCertMismatch, err)
	}
	return nil
}

// kubeletCertCurrent is the kubelet certificate's renewal rule: keep it
// while pki.KubeClientCurrent holds (the key is its own, caPEM signed it,
// it is node nodeName's kubelet identity exactly, and two thirds of its
// life have not gone); otherwise requestKubeletCert a new one. caPEM is the
// Kubernetes CA certificate, which every node has (a worker has no key).
func kubeletCertCurrent(certPEM, keyPEM, caPEM []byte, nodeName string, now time.Time) bool {
	return pki.KubeClientCurrent(config.CertKeyPair{Crt: string(certPEM), Key: string(keyPEM)}, config.CertKeyPair{Crt: string(caPEM)},
		pki.KubeNodeUserPrefix+nodeName, []string{pki.KubeNodesGroup}, now)
}
