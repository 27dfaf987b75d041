package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// FuzzSignCSR feeds arbitrary certificate requests and node names to the
// two signers a joining node reaches before it is trusted (its node
// certificate, with the join token; its kubelet's): they never panic,
// refuse only with their documented errors, and whatever they sign names
// exactly the identity the rules allow — a node certificate's only role is
// os:node, a kubelet's only user is system:node:NAME in system:nodes —
// whatever the request asked for.
func FuzzSignCSR(f *testing.F) {
	ca, err := config.NewCA(nil, "fuzz", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	kubeCA, err := config.NewKubernetesCA(nil, "fuzz", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	_, nodeCSR, err := NewKeyAndCSR("cp1", []net.IP{net.ParseIP("127.0.5.1")}, "cp1.local")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nodeCSR, "cp1")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, subject := range []pkix.Name{
		{CommonName: KubeNodeUserPrefix + "w1", Organization: []string{KubeNodesGroup}},
		{CommonName: "admin", Organization: []string{"system:masters", "os:admin"}},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), "w1")
	}
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"), "w1")
	now := time.Now()
	f.Fuzz(func(t *testing.T, csr []byte, name string) {
		crt, err := SignNode(ca, csr, now)
		switch {
		case err != nil && !errors.Is(err, ErrBadCSR):
			t.Fatalf("SignNode: an undocumented refusal: %v", err)
		case err == nil:
			cert := mustParse(t, crt)
			if !slices.Equal(cert.Subject.Organization, []string{RoleNode}) || cert.IsCA {
				t.Fatalf("a node certificate with roles %v (CA %t)", cert.Subject.Organization, cert.IsCA)
			}
		}
		kcrt, err := SignKubeletCSR(kubeCA, csr, name, KubeValidity, now)
		switch {
		case err != nil && !errors.Is(err, ErrBadCSR) && !errors.Is(err, ErrKubeletIdentity) && !errors.Is(err, ErrBadKubeRequest):
			t.Fatalf("SignKubeletCSR: an undocumented refusal: %v", err)
		case err == nil:
			cert := mustParse(t, []byte(kcrt))
			if cert.Subject.CommonName != KubeNodeUserPrefix+name || !slices.Equal(cert.Subject.Organization, []string{KubeNodesGroup}) ||
				cert.IsCA || len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.URIs)+len(cert.EmailAddresses) > 0 {
				t.Fatalf("a kubelet certificate for node %q as %q in %v", name, cert.Subject.CommonName, cert.Subject.Organization)
			}
		}
		if (CheckToken(name, string(csr)) == nil) != (name != "" && name == string(csr)) {
			t.Fatalf("CheckToken(%q, %q) disagrees with equality", name, csr)
		}
	})
}

func mustParse(t *testing.T, crt []byte) *x509.Certificate {
	t.Helper()
	cert, err := ParseCertificatePEM(string(crt))
	if err != nil {
		t.Fatalf("a signed certificate does not parse: %v", err)
	}
	return cert
}
